// drld's side of core::Warmup: the threads that answer checks (socket workers, the HTTP
// endpoint, the Envoy service) wait here while a node that has just started into a cluster has
// not received its peers' counts, at most until the warm-up deadline. The cluster driver's
// thread opens it when the first full sync arrives.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/warmup.hpp"

namespace drl::daemon {

class StartupHold {
 public:
  // Open from the start when `warmup_max_ms` is 0 (and for a node without [cluster]).
  StartupHold(core::MonoTime started, std::int64_t warmup_max_ms);

  // Blocks while the node holds its answers. Returns true if it waited (the caller reads its
  // clocks again). The fast path, once open, is one atomic load.
  bool wait();
  // The node has the cluster's counts (or nothing to wait for): wakes every waiting thread.
  void open(core::MonoTime now);
  // Whether answers are still held at `now` (false once synced or past the deadline).
  bool holds(core::MonoTime now) const;
  // The hold ended with a sync before the deadline (else it ran out).
  bool synced_in_time() const;

  bool is_open() const { return open_.load(std::memory_order_acquire); }
  core::MonoTime deadline() const { return warmup_.deadline(); }
  // How long the node held its answers, so far or in all (ms).
  std::int64_t held_ms(core::MonoTime now) const;
  // Checks that waited here.
  std::uint64_t checks_held() const { return checks_held_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mutex_;
  std::condition_variable opened_;
  core::Warmup warmup_;  // guarded by mutex_
  std::atomic<bool> open_{false};
  std::atomic<std::uint64_t> checks_held_{0};
};

}  // namespace drl::daemon
