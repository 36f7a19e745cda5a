// A node that starts into a cluster holds its answers until it has the cluster's counts: until
// a peer has sent it a full sync, or warmup_max after the start, whichever comes first
// (docs/replication.md, "Starting into a cluster"). Without the hold a restarted node decides
// on empty counters and admits everything it gets until its first sync arrives: a burst over
// the limit exactly when a fleet restarts. One full sync is enough: a peer sends every slot of
// every origin it holds, the other nodes' and the restarted node's earlier life's included.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/time.hpp"

namespace drl::core {

class Warmup {
 public:
  // `warmup_max_ms` 0: no hold at all.
  Warmup(MonoTime started, std::int64_t warmup_max_ms)
      : started_(started), deadline_(after_ms(started, std::max<std::int64_t>(0, warmup_max_ms))) {}

  // The first full sync from a peer arrived, or there is no peer to wait for.
  void synced(MonoTime now) {
    if (synced_) return;
    synced_ = true;
    synced_at_ = std::min(now, deadline_);
  }

  bool holds(MonoTime now) const { return !synced_ && now < deadline_; }
  MonoTime deadline() const { return deadline_; }
  bool synced_in_time() const { return synced_ && synced_at_ < deadline_; }
  bool has_synced() const { return synced_; }

  // How long the node held its answers: from the start to the sync or the deadline.
  std::int64_t held_ms(MonoTime now) const {
    const MonoTime end = synced_ ? synced_at_ : std::min(now, deadline_);
    return (end.ns - started_.ns) / ns_per_ms;
  }

 private:
  MonoTime started_;
  MonoTime deadline_;
  bool synced_ = false;
  MonoTime synced_at_;
};

}  // namespace drl::core
