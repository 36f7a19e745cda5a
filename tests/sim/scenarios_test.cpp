// The simulator's named scenarios: the real node code under faults, checked against the exact
// limiter. Each reads a file from sim/scenarios/ (documented in docs/simulation.md).
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

using namespace drl::sim;

namespace {

Scenario load(const std::string& name) {
  const char* root = std::getenv("DRL_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  const std::string path = std::string(root) + "/sim/scenarios/" + name;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), (std::string("cannot read ") + path));
  std::stringstream text;
  text << in.rdbuf();
  auto scenario = parse_scenario(text.str(), path);
  REQUIRE_MESSAGE(scenario.ok(), (scenario.ok() ? "" : scenario.error().message));
  return std::move(scenario.value());
}

const Convergence* convergence_after(const RunResult& result, const std::string& prefix) {
  for (const Convergence& c : result.convergence) {
    if (c.after.rfind(prefix, 0) == 0) return &c;
  }
  return nullptr;
}

// Admitted by node `n` in the windows that start in [from_s, to_s).
std::uint64_t admitted_by(const RunResult& result, std::size_t n, double from_s, double to_s) {
  std::uint64_t admitted = 0;
  for (const TimelineRow& row : result.timeline) {
    if (row.start_s >= from_s && row.start_s < to_s) admitted += row.admitted_by_node.at(n);
  }
  return admitted;
}

// Runs `scenario` with each seed from 1 to `seeds`; every run must be safe and live and hold
// exact counts. `more` checks the rest of each run.
void check_seeds(Scenario scenario, std::uint64_t seeds,
                 const std::function<void(const RunResult&)>& more = {}) {
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    scenario.seed = seed;
    const RunResult result = run_simulation(scenario);
    INFO(summary_text(result));
    CHECK(result.safety_ok);
    CHECK(result.liveness_ok);
    CHECK(result.counts_ok);
    if (more) more(result);
  }
}

}  // namespace

TEST_CASE("steady: three nodes at 3x the limit overshoot by about rate x gossip delay") {
  const RunResult result = run_simulation(load("steady-3-nodes.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  REQUIRE(result.limits.size() == 1);
  // Model: 300/s x (5 ms + 0.3 ms) x 2/3 = 1.06 requests a window, 1.06% of the limit.
  CHECK(result.limits[0].overshoot_mean_percent < 2.0);
  CHECK(result.limits[0].overshoot_max_percent <= 5.0);
  CHECK(result.false_rejects == 0);
}

TEST_CASE("partition: 2-1 split, both sides answer, counts converge after heal") {
  const RunResult result = run_simulation(load("partition-2-1.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  // Both sides kept admitting while cut off from each other (4 s to 9 s).
  CHECK(admitted_by(result, 0, 5.0, 9.0) + admitted_by(result, 1, 5.0, 9.0) > 0);
  CHECK(admitted_by(result, 2, 5.0, 9.0) > 0);
  // Optimistic: each side admits up to the limit, so the cluster admits up to twice it.
  CHECK(result.limits[0].overshoot_max_percent > 50.0);
  const Convergence* heal = convergence_after(result, "heal");
  REQUIRE(heal != nullptr);
  CHECK(heal->took_ms >= 0);
  CHECK(heal->took_ms <= heal->bound_ms);
}

TEST_CASE("partition: with the proportional policy the sides share one limit once they know") {
  const RunResult result = run_simulation(load("partition-2-1-proportional.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  // From a second into the cut until the heal: each side holds to its share.
  for (const TimelineRow& row : result.timeline) {
    if (row.start_s >= 5.0 && row.start_s < 9.0) {
      CAPTURE(row.start_s);
      CHECK(row.admitted <= row.limit_total + 5);
    }
  }
}

TEST_CASE("partition: a one-way cut keeps the cluster within its bound and converges") {
  const RunResult result = run_simulation(load("one-way.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
}

TEST_CASE(
    "partition: a one-way cut among five nodes is routed through a third node, so the windows "
    "stay within 15% of the limit under the optimistic policy, on every seed") {
  check_seeds(load("one-way-relay.toml"), 5);
}

TEST_CASE(
    "membership: ten nodes join a cluster of ten under load and later leave cleanly: every window "
    "within its bound, and the window they leave in as close to the limit as a steady one") {
  check_seeds(load("grow-shrink.toml"), 3, [](const RunResult& result) {
    for (const TimelineRow& row : result.timeline) {
      // The leave at 6.5 s: the others keep the counts of those that left (measured: at most
      // 0.6% over, as steady windows).
      if (row.start_s >= 6.0 && row.start_s < 7.0) {
        CAPTURE(row.start_s);
        CHECK(row.admitted <= row.limit_total * 101 / 100);
      }
    }
  });
}

TEST_CASE(
    "membership: through key owners, ten nodes join a cluster of ten under load and later leave "
    "cleanly, owners of keys among them: the window they leave in stays as close to the limit as "
    "a steady one, and the one they join in within 2%") {
  Scenario scenario = load("grow-shrink.toml");
  scenario.cluster.dissemination = drl::core::Dissemination::owners;
  check_seeds(scenario, 5, [](const RunResult& result) {
    for (const TimelineRow& row : result.timeline) {
      // Measured, seeds 1-5: the join window at most 1.0% over, the leave window 0.8% (2128 of
      // 2000, 6.4%, before the nodes that leave gave their counts to every peer: the keys both
      // of whose owners left lost them).
      if (row.start_s >= 2.0 && row.start_s < 3.0) {
        CAPTURE(row.start_s);
        CHECK(row.admitted <= row.limit_total * 102 / 100);
      }
      if (row.start_s >= 6.0 && row.start_s < 7.0) {
        CAPTURE(row.start_s);
        CHECK(row.admitted <= row.limit_total * 101 / 100);
      }
    }
  });
}

TEST_CASE(
    "membership: twenty nodes started at once under load each get a full sync within a "
    "millisecond, so no node holds its checks until warmup_max and every window stays within "
    "its bound") {
  check_seeds(load("cold-start-20.toml"), 3, [](const RunResult& result) {
    // Measured: at most 0.9 ms (seeds 1-6); one waiting peer served per repair round made it
    // the whole warmup_max (500 ms) on some node of every seed.
    CHECK(result.hold_max_ms < 50.0);
  });
}

TEST_CASE("loss: 20% loss, counts converge within 100 gossip intervals of the last check") {
  const Scenario scenario = load("loss-20.toml");
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  CHECK(result.datagrams_lost > 0);
  const Convergence* stop = convergence_after(result, "traffic stop");
  REQUIRE(stop != nullptr);
  CHECK(stop->took_ms >= 0);
  CHECK(stop->took_ms <= 100.0 * static_cast<double>(scenario.cluster.gossip_interval_ms));
}

TEST_CASE("restart: node crash and restart loses nothing and counts nothing twice") {
  const RunResult result = run_simulation(load("restart.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  // Every live node, the restarted one included, holds every slot any node held at the restart
  // (its own previous incarnation's among them).
  const Convergence* restart = convergence_after(result, "restart");
  REQUIRE(restart != nullptr);
  CHECK(restart->took_ms >= 0);
  CHECK(restart->took_ms <= restart->bound_ms);
  // 10 s windows at twice the limit: never more than the limit (plus the gossip delay).
  CHECK(result.limits[0].overshoot_max_percent <= 3.0);
}

TEST_CASE("skew: 200 ms clock offset at a 1 s window is measured and kept within the bound") {
  const RunResult result = run_simulation(load("skew-200ms.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  CHECK(result.max_clock_offset_ms >= 190);
  CHECK(result.max_clock_offset_ms <= 210);
}

TEST_CASE("attack: one key hammered on every node is held near its limit") {
  const RunResult result = run_simulation(load("attack.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
}

TEST_CASE("burst: a burst at five times the rate stays within both limits' bounds") {
  const RunResult result = run_simulation(load("burst.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  REQUIRE(result.limits.size() == 2);
}

TEST_CASE("long window: a 365-day limit beside a 1 s one holds each key near 300 a year") {
  // Ten keys at three times 100/s until the year's 300 are spent, after about 1 s.
  auto scenario = parse_scenario(R"(
name = "year-window"
nodes = 3
duration = "6s"
[cluster]
gossip_interval = "5ms"
[network]
latency_ms = 0.2
jitter_ms = 0.1
[workload]
keys = 10
offered = 3.0
spread = "round_robin"
stop = "5s"
[[policy]]
name = "api"
algorithm = "fixed"
limits = [{ limit = 100, window = "1s" }, { limit = 300, window = "1y" }]
)",
                                 "year-window");
  REQUIRE_MESSAGE(scenario.ok(), (scenario.ok() ? "" : scenario.error().message));
  const RunResult result = run_simulation(scenario.value());
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  REQUIRE(result.limits.size() == 2);
  CHECK(result.limits[1].window_ms == 365ULL * 86'400'000);
  CHECK(result.limits[1].windows == 10);
  CHECK(result.exact_admitted == 10 * 300);
  CHECK(result.admitted >= 10 * 300);
  CHECK(result.admitted <= 10 * 300 * 103 / 100);
}

TEST_CASE("determinism: the same seed gives the same run, byte for byte; another seed does not") {
  Scenario scenario = load("loss-20.toml");
  scenario.duration_s = 5;
  scenario.workload.stop_s = 4;
  const RunResult first = run_simulation(scenario);
  const RunResult second = run_simulation(scenario);
  CHECK(summary_json(first) == summary_json(second));
  CHECK(timeline_csv(first) == timeline_csv(second));
  scenario.seed += 1;
  const RunResult other = run_simulation(scenario);
  CHECK(summary_json(first) != summary_json(other));
}

TEST_CASE(
    "restart: a node back in the middle of a window holds its first checks until a peer's sync, "
    "so the worst window stays as close to the limit as without a restart, fixed and sliding") {
  for (const char* file : {"restart-burst-fixed.toml", "restart-burst-sliding.toml"}) {
    const RunResult result = run_simulation(load(file));
    INFO(file << "\n" << summary_text(result));
    CHECK(result.safety_ok);
    CHECK(result.liveness_ok);
    CHECK(result.counts_ok);
    CHECK(result.checks_held > 0);
    REQUIRE(result.limits.size() == 1);
    // Before the hold and the immediate sync: +13% (fixed) in the restart's window.
    CHECK(result.limits[0].overshoot_max_percent <= 2.0);
  }
}

TEST_CASE(
    "partition: the window in which a partition begins stays near the limit under the "
    "proportional policy, because a side finds the other unreachable after unreachable_after") {
  for (const char* file :
       {"partition-transition-fixed.toml", "partition-transition-sliding.toml"}) {
    Scenario scenario = load(file);
    const RunResult result = run_simulation(scenario);
    INFO(file << "\n" << summary_text(result));
    CHECK(result.safety_ok);
    CHECK(result.liveness_ok);
    REQUIRE(result.limits.size() == 1);
    CHECK(result.limits[0].overshoot_max_percent <= 10.0);
    // Found only when suspect (unreachable_after = suspect_after), both sides admit close to
    // a whole limit each in that window (+89% fixed, +94% sliding).
    scenario.cluster.unreachable_after_ms = scenario.cluster.suspect_after_ms;
    const RunResult late = run_simulation(scenario);
    INFO(summary_text(late));
    CHECK(late.safety_ok);
    CHECK(late.limits[0].overshoot_max_percent >= 50.0);
  }
}

TEST_CASE(
    "hard limit: under loss, duplication, a partition, a crash and skewed clocks, no window admits "
    "more than the limit") {
  check_seeds(load("hard-cap.toml"), 3, [](const RunResult& result) {
    CHECK(result.hard_windows > 0);
    CHECK(result.hard_violations == 0);
    // The price: a node admits only its share, and the restarted one nothing for a while.
    CHECK(result.false_rejects > 0);
  });
}

TEST_CASE(
    "hard limit: with all of a key's demand on one node of ten, borrowed rights admit at least 90% "
    "of what an exact limiter admits, from the second window on; with even demand at least 95%") {
  const auto utilisation_after_first_window = [](const RunResult& result) {
    std::uint64_t admitted = 0;
    std::uint64_t exact = 0;
    for (const TimelineRow& row : result.timeline) {
      if (row.start_s < 1.0) continue;
      admitted += row.admitted;
      exact += row.exact;
    }
    REQUIRE(exact > 0);
    return static_cast<double>(admitted) / static_cast<double>(exact);
  };
  Scenario scenario = load("hard-one-node.toml");
  check_seeds(scenario, 2, [&](const RunResult& result) {
    CHECK(result.hard_violations == 0);
    CHECK(utilisation_after_first_window(result) >= 0.90);
  });
  scenario.workload.spread = "random";
  check_seeds(scenario, 2, [&](const RunResult& result) {
    CHECK(result.hard_violations == 0);
    CHECK(utilisation_after_first_window(result) >= 0.95);
  });
}

TEST_CASE(
    "hard limit: a cluster that grows from three to four and shrinks back by rolling restarts "
    "never admits more than the limit, and admits all of it once every node lists the same "
    "members") {
  check_seeds(load("hard-members-change.toml"), 3, [](const RunResult& result) {
    CHECK(result.hard_windows > 0);
    CHECK(result.hard_violations == 0);
    for (const TimelineRow& row : result.timeline) {
      // n3 joins: it borrows from the three, which keep their shares (seconds 2 and 3); the
      // three list the same members again after the last restart at 10 s (second 11).
      if (row.start_s == 2.0 || row.start_s == 3.0 || row.start_s == 11.0) {
        CHECK(row.admitted >= row.exact * 95 / 100);
      }
    }
  });
}

TEST_CASE("a scenario lists each node's members per life; without a list, every node") {
  const std::string base = "nodes = 4\n[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1s\"\n";
  auto parsed = parse_scenario(base +
                                   "[[members]]\nnode = 1\nlist = [0, 1]\n"
                                   "[[members]]\nnode = 1\nfrom = \"5s\"\nlist = [0, 1, 3]\n",
                               "t");
  REQUIRE(parsed.ok());
  CHECK(members_of(parsed.value(), 1, 0.0) == std::vector<int>{0, 1});
  CHECK(members_of(parsed.value(), 1, 4.9) == std::vector<int>{0, 1});
  CHECK(members_of(parsed.value(), 1, 5.0) == std::vector<int>{0, 1, 3});
  CHECK(members_of(parsed.value(), 2, 0.0) == std::vector<int>{0, 1, 2, 3});
  CHECK_FALSE(parse_scenario(base + "[[members]]\nnode = 1\nlist = [0, 4]\n", "t").ok());
}

TEST_CASE(
    "hard limit: checks that may wait 5 ms for a grant are admitted where a node of fifty has "
    "spent its share and the others are idle, and none is denied after the first window") {
  const RunResult waiting = run_simulation(load("hard-wait.toml"));
  INFO(summary_text(waiting));
  CHECK(waiting.hard_violations == 0);
  CHECK(waiting.rights_waits_admitted > waiting.rights_waits / 2);
  CHECK(waiting.rights_wait_max_ms <= 5.0);
  // The first window has no rights anywhere: 1000 per key, ten keys.
  CHECK(waiting.false_rejects <= 10'000 + 100);

  Scenario at_once = load("hard-one-node.toml");
  at_once.nodes = 50;
  const RunResult denied = run_simulation(at_once);
  INFO(summary_text(denied));
  CHECK(denied.hard_violations == 0);
  CHECK(denied.rights_waits == 0);
  CHECK(denied.false_rejects > waiting.false_rejects + 1000);
}
