// Suite 'slow': the overshoot bound of cluster_replication_test over the range of gossip
// intervals and both algorithms, ten windows each (about two minutes). The numbers it prints
// are the kind docs/replication.md tabulates; measure_cluster_overshoot makes that table.
#include <doctest/doctest.h>

#include "cluster_harness.hpp"
#include "overshoot_checks.hpp"

namespace drl::integration {
namespace {

constexpr double kSchedulingSlackMs = 50;

void sweep(const std::string& algorithm, std::uint64_t gossip_ms) {
  TempDir dir;
  OvershootSettings settings;
  settings.algorithm = algorithm;
  settings.gossip_interval_ms = gossip_ms;
  settings.offered_multiple = 3;
  settings.windows = 10;
  const OvershootRun run = measure_overshoot(dir, settings);
  const std::uint64_t bound = overshoot_bound(settings, run.rtt_us, kSchedulingSlackMs);
  MESSAGE(algorithm << ", gossip " << gossip_ms << " ms, offered 3x of " << settings.limit
                    << " per " << settings.window_ms << " ms on " << settings.nodes
                    << " nodes, rtt " << run.rtt_us << " us, bound " << bound << "\n"
                    << window_table(run, settings.limit) << "converged after " << run.convergence_ms
                    << " ms");
  check_windows_within_bound(run, settings, bound, algorithm == "fixed");
  CHECK(run.counts_match);
}

TEST_CASE("overshoot sweep: fixed window, gossip every 1 ms, stays within the model's bound") {
  sweep("fixed", 1);
}
TEST_CASE("overshoot sweep: fixed window, gossip every 20 ms, stays within the model's bound") {
  sweep("fixed", 20);
}
TEST_CASE("overshoot sweep: fixed window, gossip every 50 ms, stays within the model's bound") {
  sweep("fixed", 50);
}
TEST_CASE("overshoot sweep: sliding window, gossip every 5 ms, stays within the model's bound") {
  sweep("sliding", 5);
}
TEST_CASE("overshoot sweep: sliding window, gossip every 50 ms, stays within the model's bound") {
  sweep("sliding", 50);
}

}  // namespace
}  // namespace drl::integration
