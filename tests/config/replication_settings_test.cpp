// [cluster]'s settings as the replicator gets them, in drld and in drl-sim alike.
#include "config/replication_settings.hpp"

#include <doctest/doctest.h>

TEST_CASE("replication settings: every [cluster] timing and bound reaches the replicator") {
  drl::config::ClusterSettings cluster;
  cluster.gossip_interval_ms = 7;
  cluster.heartbeat_interval_ms = 211;
  cluster.suspect_after_ms = 1301;
  cluster.down_after_ms = 3401;
  cluster.forget_after_ms = 600'001;
  cluster.repair_interval_ms = 99;
  cluster.repair_updates_per_interval = 4097;
  cluster.max_peers = 77;
  const drl::core::ReplicationConfig replication = drl::config::replication_config_of(cluster);
  CHECK(replication.gossip_interval_ms == 7);
  CHECK(replication.heartbeat_interval_ms == 211);
  CHECK(replication.suspect_after_ms == 1301);
  CHECK(replication.down_after_ms == 3401);
  CHECK(replication.forget_after_ms == 600'001);
  CHECK(replication.repair_interval_ms == 99);
  CHECK(replication.repair_updates_per_interval == 4097);
  CHECK(replication.peers_max == 77);
  // Who the node is and whom it starts from are the caller's.
  CHECK(replication.node_id.empty());
  CHECK(replication.seeds.empty());
}
