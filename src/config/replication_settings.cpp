#include "config/replication_settings.hpp"

#include <algorithm>

namespace drl::config {

core::ReplicationConfig replication_config_of(const ClusterSettings& cluster) {
  core::ReplicationConfig replication;
  replication.gossip_interval_ms = static_cast<std::int64_t>(cluster.gossip_interval_ms);
  replication.heartbeat_interval_ms = static_cast<std::int64_t>(cluster.heartbeat_interval_ms);
  replication.suspect_after_ms = static_cast<std::int64_t>(cluster.suspect_after_ms);
  replication.down_after_ms = static_cast<std::int64_t>(cluster.down_after_ms);
  replication.unreachable_after_ms = static_cast<std::int64_t>(unreachable_after_ms(cluster));
  replication.forget_after_ms = static_cast<std::int64_t>(cluster.forget_after_ms);
  replication.repair_interval_ms = static_cast<std::int64_t>(cluster.repair_interval_ms);
  replication.repair_updates_per_interval = cluster.repair_updates_per_interval;
  replication.peers_max = cluster.max_peers;
  replication.dissemination = cluster.dissemination;
  replication.totals_wait_max_ms = static_cast<std::int64_t>(cluster.totals_wait_max_ms);
  return replication;
}

std::uint64_t unreachable_after_ms(const ClusterSettings& cluster) {
  if (cluster.unreachable_after_ms != 0) return cluster.unreachable_after_ms;
  // Two heartbeats and a half: one lost heartbeat (or its acknowledgement) does not shrink the
  // limits, two in a row do.
  return std::min(cluster.suspect_after_ms, cluster.heartbeat_interval_ms * 5 / 2);
}

}  // namespace drl::config
