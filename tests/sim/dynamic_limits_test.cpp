// Dynamic limits in the simulator: the real override table, replication and adaptive
// controller on simulated nodes (sim/scenarios/override-5-nodes.toml, key-control-3-nodes.toml,
// adaptive-signal.toml, adaptive-queue.toml; documented in docs/simulation.md).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"

using namespace drl::sim;

namespace {

std::string read_scenario(const std::string& name) {
  const char* root = std::getenv("DRL_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  const std::string path = std::string(root) + "/sim/scenarios/" + name;
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), (std::string("cannot read ") + path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

Scenario load(const std::string& name) {
  auto scenario = parse_scenario(read_scenario(name), name);
  REQUIRE_MESSAGE(scenario.ok(), (scenario.ok() ? "" : scenario.error().message));
  return std::move(scenario.value());
}

// Admitted per second, averaged over the whole seconds [from_s, to_s).
double admitted_rate(const RunResult& result, int from_s, int to_s) {
  double total = 0;
  for (int s = from_s; s < to_s; ++s)
    total += static_cast<double>(result.admitted_per_second.at(s));
  return total / (to_s - from_s);
}

// The factor samples of the first adaptive policy in [from_s, to_s).
struct FactorRange {
  double low = 1e9;
  double high = 0;
};
FactorRange factor_range(const RunResult& result, double from_s, double to_s) {
  FactorRange range;
  for (const FactorSample& sample : result.adaptive.at(0).samples) {
    if (sample.at_s < from_s || sample.at_s >= to_s) continue;
    range.low = std::min(range.low, sample.min_permille / 1000.0);
    range.high = std::max(range.high, sample.max_permille / 1000.0);
  }
  return range;
}

}  // namespace

TEST_CASE(
    "override: factor 0.5 set on one node of five under loss is everywhere within two "
    "gossip rounds, halves the admitted rate, and expires by itself at its TTL") {
  const Scenario scenario = load("override-5-nodes.toml");
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  CHECK(result.datagrams_lost > 0);
  REQUIRE(result.overrides.size() == 1);
  const OverrideReport& set = result.overrides[0];
  CHECK(set.error.empty());
  // Two rounds: the writer's next gossip round, then every receiver's forward, each at most a
  // gossip interval + latency + jitter + 1 ms: 2 x (5 + 2 + 1 + 1) = 18 ms. (The simulator's
  // own check, set.bound_ms, adds override syncs for the rare peer that misses every copy.)
  const double two_rounds_ms = 2 * (static_cast<double>(scenario.cluster.gossip_interval_ms) +
                                    scenario.link.latency_ms + scenario.link.jitter_ms + 1.0);
  CHECK(set.in_force_ms >= 0);
  CHECK(set.in_force_ms <= two_rounds_ms);
  CHECK(set.in_force_ms <= set.bound_ms);
  // Gone from every node within one timer round (a gossip interval) of its TTL.
  CHECK(set.expired_ms >= 0);
  CHECK(set.expired_ms <= static_cast<double>(scenario.cluster.gossip_interval_ms) + 1.0);
  // 10 keys at 100 per second each, offered twice that: 1000 per second, 500 under the override
  // (set at 4 s, gone at 14 s), 1000 again after. Within 3%.
  const double before = admitted_rate(result, 1, 4);
  const double during = admitted_rate(result, 5, 14);
  const double after = admitted_rate(result, 15, 18);
  CHECK(before == doctest::Approx(1000).epsilon(0.03));
  CHECK(during == doctest::Approx(500).epsilon(0.03));
  CHECK(after == doctest::Approx(1000).epsilon(0.03));
}

TEST_CASE(
    "key control: a key's limit, a block, a reset and a factor, each set on one node of three "
    "under 10% loss, are in force everywhere within two gossip rounds; the blocked key is "
    "admitted nothing while blocked, and every key's windows stay within their own bounds") {
  const Scenario scenario = load("key-control-3-nodes.toml");
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);  // per key: its own limit, or the policy's plus what a reset forgot
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  CHECK(result.datagrams_lost > 0);
  REQUIRE(result.overrides.size() == 5);
  const double two_rounds_ms = 2 * (static_cast<double>(scenario.cluster.gossip_interval_ms) +
                                    scenario.link.latency_ms + scenario.link.jitter_ms + 1.0);
  for (const OverrideReport& write : result.overrides) {
    CAPTURE(write.what);
    CHECK(write.error.empty());
    CHECK(write.in_force_ms >= 0);
    CHECK(write.in_force_ms <= two_rounds_ms);
  }
  CHECK(result.overrides[2].what.find("reset") == 0);
  // k0, the key the timeline follows, is blocked from 3.3 s to 5.3 s: nothing in the window at
  // 4 s, by the nodes or by the exact limiter; its limit again in the window at 6 s.
  REQUIRE(result.focus_key == "k0");
  const auto row_at = [&](double start_s) {
    const auto it = std::find_if(result.timeline.begin(), result.timeline.end(),
                                 [&](const TimelineRow& row) { return row.start_s == start_s; });
    REQUIRE(it != result.timeline.end());
    return *it;
  };
  CHECK(row_at(4.0).focus_offered > 100);
  CHECK(row_at(4.0).focus_admitted == 0);
  CHECK(row_at(4.0).focus_exact == 0);
  CHECK(row_at(6.0).focus_admitted >= 100);
}

TEST_CASE("override: a clear on another node lifts the override everywhere within the bound") {
  Scenario scenario = load("override-5-nodes.toml");
  OverrideEvent clear;
  clear.at_s = 8;
  clear.node = 4;
  clear.clear = true;
  clear.scope.policy = "api";
  scenario.overrides.push_back(clear);
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  REQUIRE(result.overrides.size() == 2);
  CHECK(result.overrides[1].error.empty());
  CHECK(result.overrides[1].in_force_ms >= 0);
  CHECK(result.overrides[1].in_force_ms <= result.overrides[1].bound_ms);
  // The set no longer waits for its TTL: the clear superseded it.
  CHECK(result.overrides[0].expired_ms == -1);
  CHECK(admitted_rate(result, 5, 8) == doctest::Approx(500).epsilon(0.03));
  CHECK(admitted_rate(result, 9, 18) == doctest::Approx(1000).epsilon(0.03));
}

TEST_CASE(
    "override: a node whose clock is 200 ms behind still overrides a write it has seen "
    "(hybrid logical clock), on every node") {
  Scenario scenario = load("override-5-nodes.toml");
  scenario.clocks.push_back(NodeClock{0, 200, 0});  // n0 writes first, 200 ms ahead
  OverrideEvent first;
  first.at_s = 4.0;
  first.node = 0;
  first.scope.policy = "api";
  first.kind = drl::core::OverrideKind::limit;
  first.value = 80;
  first.ttl_s = 10;
  OverrideEvent second = first;  // 100 ms later in true time, 100 ms earlier by n1's clock
  second.at_s = 4.1;
  second.node = 1;
  second.value = 30;
  scenario.overrides = {first, second};
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  REQUIRE(result.overrides.size() == 2);
  CHECK(result.overrides[1].in_force_ms >= 0);
  CHECK(result.overrides[1].in_force_ms <= result.overrides[1].bound_ms);
  // By wall clocks alone n0's write (stamped 4.2 s) would beat n1's (4.1 s): 10 keys x 80 per
  // second. n1's limit, the later write, is 10 x 30 (279 measured: with clocks 200 ms apart,
  // nodes disagree on where 1 s windows start and admit 7-16% less in every phase).
  const double during = admitted_rate(result, 5, 14);
  CHECK(during >= 240);
  CHECK(during <= 310);
  CHECK(result.overrides[0].expired_ms == -1);  // superseded, not expired
}

TEST_CASE(
    "adaptive: a rising signal lowers the admitted rate to the floor, a falling one "
    "restores it, and a steady one holds the factor within 2%") {
  const RunResult result = run_simulation(load("adaptive-signal.toml"));
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  REQUIRE(result.adaptive.size() == 1);
  // Quiet (depth 50, target 100): factor 1, 1000 per second.
  CHECK(factor_range(result, 1, 5).low == 1.0);
  CHECK(admitted_rate(result, 1, 5) == doctest::Approx(1000).epsilon(0.03));
  // Steady at 200, halfway from target to floor_at: factor 1 - 0.75 x 0.5 = 0.625, and it
  // stays put once the moving average has caught up.
  const FactorRange steady = factor_range(result, 12, 17);
  CHECK(steady.low == doctest::Approx(0.625).epsilon(0.02));
  CHECK(steady.high - steady.low <= 0.02 * steady.high);
  CHECK(admitted_rate(result, 12, 17) == doctest::Approx(625).epsilon(0.04));
  // Overload (400, past floor_at 300): the floor, a quarter.
  CHECK(factor_range(result, 20, 24).high == 0.25);
  CHECK(admitted_rate(result, 20, 24) == doctest::Approx(250).epsilon(0.05));
  // Quiet again: back to 1 within the recovery time (10 s from the floor) and the smoothing.
  CHECK(factor_range(result, 36, 40).low == 1.0);
  CHECK(admitted_rate(result, 37, 40) == doctest::Approx(1000).epsilon(0.03));
  // The way back is gradual: halfway through the recovery the factor is still between.
  const FactorRange climbing = factor_range(result, 29, 30);
  CHECK(climbing.low > 0.25);
  CHECK(climbing.high < 1.0);
}

TEST_CASE(
    "adaptive, closed loop: a queue fed by the admitted checks settles the factor where "
    "the admitted rate meets the service rate") {
  const Scenario scenario = load("adaptive-queue.toml");
  const RunResult result = run_simulation(scenario);
  INFO(summary_text(result));
  CHECK(result.safety_ok);
  CHECK(result.liveness_ok);
  CHECK(result.counts_ok);
  const FactorRange settled = factor_range(result, 40, 60);
  CHECK(settled.high - settled.low <= 0.05 * settled.high);
  CHECK(admitted_rate(result, 40, 60) ==
        doctest::Approx(scenario.queue.service_rate).epsilon(0.05));
}

TEST_CASE("scenario: an override naming a policy that does not exist is refused with its place") {
  std::string text = read_scenario("override-5-nodes.toml");
  text.replace(text.find("policy = \"api\"\nfactor"), 14, "policy = \"nope\"");
  const auto scenario = parse_scenario(text, "bad.toml");
  REQUIRE_FALSE(scenario.ok());
  CHECK(scenario.error().message.find("bad.toml") == 0);
  CHECK(scenario.error().message.find("nope") != std::string::npos);
}

TEST_CASE("scenario: a signal that no adaptive policy reads is refused, not ignored") {
  std::string text = read_scenario("adaptive-signal.toml");
  const std::size_t at = text.find("name = \"queue_depth\"");
  text.replace(at, 20, "name = \"queue_dpth\"");
  const auto scenario = parse_scenario(text, "typo.toml");
  REQUIRE_FALSE(scenario.ok());
  CHECK(scenario.error().message.find("queue_dpth") != std::string::npos);
}

TEST_CASE("determinism: overrides and signals do not make a run depend on anything but the seed") {
  Scenario scenario = load("override-5-nodes.toml");
  scenario.duration_s = 6;
  scenario.workload.stop_s = 6;
  CHECK(summary_json(run_simulation(scenario)) == summary_json(run_simulation(scenario)));
}
