// Counts through key owners ([cluster] dissemination = "owners") between real drld processes on
// loopback: the overshoot within the model's bound with two hops, and every node then reading
// exactly the admissions the test saw (docs/replication.md, "Key owners").
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster_harness.hpp"

namespace drl::integration {
namespace {

// As cluster_replication_test.cpp: how late a process may be scheduled on a shared 2-core VM.
constexpr double kSchedulingSlackMs = 50;

TEST_CASE(
    "owners: one key checked round-robin on 8 nodes at 3x its limit, counts through its two "
    "owners, admits at most the model's bound per window, and every node then reads the "
    "admissions") {
  TempDir dir;
  OvershootSettings settings;
  settings.nodes = 8;
  settings.windows = 4;
  settings.through_owners = true;
  const OvershootRun run = measure_overshoot(dir, settings);

  const std::uint64_t bound = overshoot_bound(settings, run.rtt_us, kSchedulingSlackMs);
  MESSAGE("through owners: limit "
          << settings.limit << " per " << settings.window_ms << " ms, offered "
          << run.offered_rate_per_s << "/s on " << settings.nodes << " nodes, rtt " << run.rtt_us
          << " us; bound " << bound << "\n"
          << window_table(run, settings.limit) << "converged after " << run.convergence_ms
          << " ms");
  CHECK(run.checks_failed == 0);
  REQUIRE(run.full_windows.size() == settings.windows);
  for (const WindowCount& window : run.full_windows) {
    INFO("window " << window.window_id);
    CHECK(window.admitted >= settings.limit);
    CHECK(window.admitted <= bound);
  }
  INFO(run.failure);
  CHECK(run.converged);
  CHECK(run.convergence_ms <= 1000);
}

TEST_CASE("owners: drl status shows the mode, this node's share of keys and the totals sent") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 4;
  spec.cluster_settings = "gossip_interval = \"5ms\"\ndissemination = \"owners\"\n";
  spec.policies = "[[policy]]\nname = \"p\"\nlimit = 1000\nwindow = \"10s\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  REQUIRE(cluster.wait_until_connected(5s));
  drl::Client first = cluster.node(0).connect();
  drl::Client second = cluster.node(1).connect();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(first.check(drl::CheckRequest{"p", "key-" + std::to_string(i)}).ok());
    REQUIRE(second.check(drl::CheckRequest{"p", "key-" + std::to_string(i)}).ok());
  }
  std::uint64_t shares = 0;
  std::uint64_t totals_sent = 0;
  REQUIRE(wait_until(
      [&] {
        shares = 0;
        totals_sent = 0;
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          const NodeStatus status = node_status(cluster.node(i));
          if (status.fields.at("dissemination") != "owners" ||
              status.fields.at("dissemination_now") != "owners") {
            return false;
          }
          shares += status.uint("owner_share_permille");
          totals_sent += status.uint("totals_messages_sent");
        }
        return totals_sent > 0;
      },
      5s, 20ms));
  // Four members share the keys: about 250 each, rounded down.
  CHECK(shares >= 990);
  CHECK(shares <= 1000);
  // Traffic per peer: each member sends and receives, and the node's totals hold the peers'.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const NodeStatus status = node_status(cluster.node(i));
    REQUIRE(status.peers.size() == cluster.size() - 1);
    std::uint64_t sent = 0;
    std::uint64_t sent_bytes = 0;
    std::uint64_t received = 0;
    for (const PeerRow& peer : status.peers) {
      CHECK(peer.datagrams_sent > 0);
      CHECK(peer.datagrams_received > 0);
      CHECK(peer.bytes_sent > peer.datagrams_sent);
      sent += peer.datagrams_sent;
      sent_bytes += peer.bytes_sent;
      received += peer.datagrams_received;
    }
    // Read after the peers' rows: the node's own counters moved on meanwhile.
    const NodeStatus later = node_status(cluster.node(i));
    CHECK(sent <= later.uint("datagrams_sent"));
    CHECK(sent_bytes <= later.uint("datagram_bytes_sent"));
    CHECK(received <= later.uint("datagrams_received"));
  }
}

TEST_CASE(
    "owners: a key's first check on a node that never counted it waits for the owners' totals, "
    "and is denied when the other nodes used up the limit") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 4;
  spec.cluster_settings = "gossip_interval = \"5ms\"\ndissemination = \"owners\"\n";
  spec.policies = "[[policy]]\nname = \"p\"\nlimit = 5\nwindow = \"1h\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  REQUIRE(cluster.wait_until_connected(5s));
  REQUIRE(wait_until(
      [&] {
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          if (node_status(cluster.node(i)).fields.at("dissemination_now") != "owners") return false;
        }
        return true;
      },
      5s, 20ms));
  constexpr int kKeys = 12;
  drl::Client first = cluster.node(0).connect();
  for (int k = 0; k < kKeys; ++k) {
    for (int i = 0; i < 5; ++i) {
      const auto decision = first.check(drl::CheckRequest{"p", "user-" + std::to_string(k)});
      REQUIRE(decision.ok());
      REQUIRE(decision->allowed);
    }
  }
  // The owners hold node 0's counts a gossip round later; node 3 is sent none of them (it
  // counts none of these keys), and owns about a quarter of them.
  std::this_thread::sleep_for(300ms);
  drl::Client last = cluster.node(3).connect();
  int admitted = 0;
  for (int k = 0; k < kKeys; ++k) {
    const auto decision = last.check(drl::CheckRequest{"p", "user-" + std::to_string(k)});
    REQUIRE(decision.ok());
    admitted += decision->allowed ? 1 : 0;
  }
  CHECK(admitted == 0);
  const NodeStatus status = node_status(cluster.node(3));
  MESSAGE("node 3: " << status.uint("totals_waits") << " first checks waited for totals, "
                     << status.uint("totals_waits_answered") << " answered in time, "
                     << status.uint("totals_wait_us") << " us in all");
  CHECK(status.uint("totals_waits") > 0);
  CHECK(status.uint("totals_waits") <= kKeys);
  // The cluster's counters reach status with the next snapshot of the cluster thread.
  CHECK(wait_until([&] { return node_status(cluster.node(3)).uint("totals_requests_sent") > 0; },
                   5s, 20ms));
}

}  // namespace
}  // namespace drl::integration
