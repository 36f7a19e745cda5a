// One node of the cluster, sans I/O: the replication logic with its datagram codec.
// on_datagram(now, from, bytes) and on_timer(now) in; take_datagrams() and next_deadline()
// out. The daemon drives it from a UDP socket and a timer; the simulator from a simulated
// network and clock.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/replicator.hpp"
#include "wire/cluster_codec.hpp"

namespace drl::wire {

struct OutgoingDatagram {
  std::string address;
  std::string bytes;
  // Another node's datagram this node forwards as a relay: its bytes are that node's, sealed
  // as it sealed them (with its key, for its destination).
  bool forwarded = false;
};

struct DatagramStats {
  std::uint64_t sent = 0;
  std::uint64_t sent_bytes = 0;
  std::uint64_t received = 0;
  std::uint64_t received_bytes = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(DropReason::count_)> dropped{};
  // Override records not sent: too large for a datagram of datagram_bytes, or outside the bounds
  // a receiver checks.
  std::uint64_t overrides_left_out = 0;
  // Replay windows of senders forgotten to make room for a new one (bounds::replay_windows_max).
  std::uint64_t replay_windows_evicted = 0;
};

class ClusterNode {
 public:
  ClusterNode(core::ReplicationConfig config, CodecOptions codec, core::CounterStore& store,
              core::OriginTable& origins);

  void on_datagram(core::MonoTime now, core::WallTime wall, const std::string& from,
                   std::string_view bytes);
  void on_timer(core::MonoTime now, core::WallTime wall);
  void final_round(core::MonoTime now, core::WallTime wall) { replicator_.final_round(now, wall); }
  void rights_now(core::MonoTime now, core::WallTime wall) { replicator_.rights_now(now, wall); }

  // Datagrams to send, in order.
  std::vector<OutgoingDatagram> take_datagrams();
  core::MonoTime next_deadline() const { return replicator_.next_deadline(); }

  core::Replicator& replicator() { return replicator_; }
  const core::Replicator& replicator() const { return replicator_; }
  const DatagramStats& stats() const { return stats_; }

 private:
  // Anti-replay state per sender: a 64-datagram window below the highest sequence seen.
  struct ReplayWindow {
    std::uint64_t incarnation = 0;
    std::uint64_t highest = 0;
    std::uint64_t seen = 0;  // bit i: highest - i was seen
  };
  bool accept_sequence(const core::ClusterMessage& message, std::uint32_t destination_tag,
                       std::uint64_t sequence);

  core::Replicator replicator_;
  ClusterCodec codec_;
  // The tag of the address this node advertises; unset without one (a wildcard bind).
  std::optional<std::uint32_t> own_tag_;
  std::map<std::string, std::uint64_t> next_sequence_;  // per destination
  // The highest sequence sent to any destination: a destination's counter starts from here, so
  // that a counter forgotten and made again never goes back below what its receiver has seen.
  std::uint64_t sequence_high_water_ = 0;
  // Per sender node id and destination tag: a datagram replayed to another destination falls
  // into another window and cannot push ours ahead.
  std::unordered_map<std::string, ReplayWindow> replay_;  // key: sender id, NUL, tag
  DatagramStats stats_;
};

}  // namespace drl::wire
