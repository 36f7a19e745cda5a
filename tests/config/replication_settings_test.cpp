// [cluster]'s settings as the replicator gets them, in drld and in drl-sim alike.
#include "config/replication_settings.hpp"

#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"

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

namespace {
const std::string kPolicy = "[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n";
}  // namespace

TEST_CASE(
    "replication settings: [cluster] unreachable_after defaults to 2.5 heartbeats, at most "
    "suspect_after") {
  const auto defaults =
      drl::config::parse_config("[cluster]\nbind = \"127.0.0.1:7001\"\n" + kPolicy, "a");
  REQUIRE(defaults.ok());
  CHECK(drl::config::replication_config_of(defaults->cluster).unreachable_after_ms == 500);
  const auto fast = drl::config::parse_config(
      "[cluster]\nbind = \"127.0.0.1:7001\"\nheartbeat_interval = \"50ms\"\n" + kPolicy, "b");
  REQUIRE(fast.ok());
  CHECK(drl::config::replication_config_of(fast->cluster).unreachable_after_ms == 125);
  const auto set = drl::config::parse_config(
      "[cluster]\nbind = \"127.0.0.1:7001\"\nunreachable_after = \"300ms\"\n" + kPolicy, "c");
  REQUIRE(set.ok());
  CHECK(drl::config::replication_config_of(set->cluster).unreachable_after_ms == 300);
  for (const char* value : {"100ms", "2s"}) {  // not above heartbeat_interval; above suspect_after
    const auto refused =
        drl::config::parse_config("[cluster]\nbind = \"127.0.0.1:7001\"\nunreachable_after = \"" +
                                      std::string(value) + "\"\n" + kPolicy,
                                  "d");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("unreachable_after") != std::string::npos);
  }
}
