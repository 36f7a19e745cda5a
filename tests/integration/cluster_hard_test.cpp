// Hard limits on real drld processes on loopback: a check short of rights waits for a grant
// when its policy allows it (rights_wait_max), and is denied at once when it does not. The
// partition and crash test of hard limits is in cluster_partition_test.cpp (network namespaces).
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.hpp"

namespace drl::integration {
namespace {

constexpr std::int64_t kWindowMs = 4000;

// Two nodes; a limit of 10 per 4 s window, 5 rights each. "now" denies at once, "wait" lets a
// check wait up to 100 ms (the most allowed) for a grant. Requests for rights that no check waits
// for go out with the gossip rounds: at 10 s apart, the first at start, none goes out during the
// test's window, so whatever node 0 receives, it receives because a check waited (at 5 ms, a
// slow build (sanitizers) had its early request answered before its sixth check).
ClusterSpec two_hard_nodes() {
  ClusterSpec spec;
  spec.nodes = 2;
  spec.cluster_settings =
      "gossip_interval = \"10s\"\nheartbeat_interval = \"50ms\"\nclock_skew_max = \"0s\"\n";
  for (const char* name : {"now", "wait"}) {
    spec.policies += std::string("[[policy]]\nname = \"") + name +
                     "\"\nlimit = 10\nwindow = \"4s\"\nenforcement = \"hard\"\n";
    if (std::string(name) == "wait") spec.policies += "rights_wait_max = \"100ms\"\n";
  }
  return spec;
}

int admitted(drl::Client& client, const std::string& policy, int times) {
  int count = 0;
  for (int i = 0; i < times; ++i) {
    const auto decision = client.check(drl::CheckRequest{policy, "tenant"});
    REQUIRE(decision.ok());
    count += decision->allowed ? 1 : 0;
  }
  return count;
}

}  // namespace

TEST_CASE(
    "hard limit: a check short of rights whose policy has rights_wait_max waits for the idle "
    "node's grant and is admitted; without it, it is denied at once; never more than the limit") {
  TempDir dir;
  Cluster cluster(dir, two_hard_nodes());
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(std::chrono::seconds(10)));
  // The members agree when they meet; shares begin with the next window. Start 200 ms into one
  // that begins after that, so that the checks below fall in one window.
  const std::int64_t next = (wall_ms() / kWindowMs + 1) * kWindowMs;
  std::this_thread::sleep_for(std::chrono::milliseconds(next + 200 - wall_ms()));
  drl::Client first = cluster.node(0).connect();
  drl::Client second = cluster.node(1).connect();

  // Node 0's own share: 5 of each policy's 10.
  CHECK(admitted(first, "now", 5) == 5);
  CHECK(admitted(first, "wait", 5) == 5);
  // One more: "now" is denied at once (its request for rights goes out with the next round);
  // "wait" asks node 1 at once, which grants all it has, and the check is admitted.
  const auto denied = first.check(drl::CheckRequest{"now", "tenant"});
  REQUIRE(denied.ok());
  CHECK_FALSE(denied->allowed);
  CHECK(cluster.node(0).status_uint("rights_waits") == 0);
  const auto waited = first.check(drl::CheckRequest{"wait", "tenant"});
  REQUIRE(waited.ok());
  CHECK(waited->allowed);
  // What node 1 granted, node 0 spends; node 1 has nothing left; the window's total is 10.
  CHECK(admitted(first, "wait", 10) == 4);
  CHECK(admitted(second, "wait", 5) == 0);

  CHECK(cluster.node(0).status_uint("rights_waits") >= 1);
  CHECK(cluster.node(0).status_uint("rights_waits_admitted") >= 1);
}

TEST_CASE(
    "hard limit: a peer that lists other members is named in the log, and the node that lists "
    "them takes no share") {
  TempDir dir;
  ClusterSpec spec = two_hard_nodes();
  std::vector<std::uint16_t> ports = pick_udp_ports(3);
  const std::string absent = "127.0.0.1:" + std::to_string(ports.back());
  ports.pop_back();
  spec.ports = ports;
  Cluster cluster(dir, spec);
  // Node 1 lists a third member that node 0 does not (a typo, a change half made).
  cluster.set_peer_list(1, {cluster.address(0), cluster.address(1), absent});
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  const std::string warning = "hard limits: peer " + cluster.address(1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (cluster.logs().find(warning) == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(cluster.logs().find(warning + " (n2) lists other members") != std::string::npos);
  CHECK(cluster.node(0).status_uint("rights_members_mismatched") > 0);
  CHECK(cluster.node(1).status_uint("rights_members_agreed") == 0);
}

}  // namespace drl::integration
