#include "config/replication_settings.hpp"

namespace drl::config {

core::ReplicationConfig replication_config_of(const ClusterSettings& cluster) {
  core::ReplicationConfig replication;
  replication.gossip_interval_ms = static_cast<std::int64_t>(cluster.gossip_interval_ms);
  replication.heartbeat_interval_ms = static_cast<std::int64_t>(cluster.heartbeat_interval_ms);
  replication.suspect_after_ms = static_cast<std::int64_t>(cluster.suspect_after_ms);
  replication.down_after_ms = static_cast<std::int64_t>(cluster.down_after_ms);
  replication.forget_after_ms = static_cast<std::int64_t>(cluster.forget_after_ms);
  replication.repair_interval_ms = static_cast<std::int64_t>(cluster.repair_interval_ms);
  replication.repair_updates_per_interval = cluster.repair_updates_per_interval;
  replication.peers_max = cluster.max_peers;
  return replication;
}

}  // namespace drl::config
