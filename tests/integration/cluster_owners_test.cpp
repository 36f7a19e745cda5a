// Counts through key owners ([cluster] dissemination = "owners") between real drld processes on
// loopback: the overshoot within the model's bound with two hops, and every node then reading
// exactly the admissions the test saw (docs/replication.md, "Key owners").
#include <doctest/doctest.h>

#include <algorithm>

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
}

}  // namespace
}  // namespace drl::integration
