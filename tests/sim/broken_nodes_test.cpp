// The simulator's checks can fail: a node broken on purpose makes the check that guards what it
// breaks fail, and the same scenario with the node intact passes every check. Each scenario is a
// file in sim/scenarios/ (docs/simulation.md, "Checking the checks").
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
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

Scenario intact(Scenario scenario) {
  scenario.broken_nodes.clear();
  return scenario;
}

bool all_ok(const RunResult& result) {
  return result.safety_ok && result.liveness_ok && result.counts_ok;
}

}  // namespace

TEST_CASE("a node that never sends its deltas fails the safety and convergence checks") {
  const Scenario scenario = load("broken-drop-deltas.toml");
  const RunResult broken = run_simulation(scenario);
  INFO(summary_text(broken));
  CHECK(broken.datagrams_dropped_broken > 0);
  CHECK_FALSE(broken.safety_ok);
  CHECK(broken.counts_ok);

  const RunResult fixed = run_simulation(intact(scenario));
  INFO(summary_text(fixed));
  CHECK(all_ok(fixed));
}

TEST_CASE("a node that counts twice fails the counts check, which safety alone would miss") {
  const Scenario scenario = load("broken-double-count.toml");
  const RunResult broken = run_simulation(scenario);
  INFO(summary_text(broken));
  CHECK_FALSE(broken.counts_ok);
  CHECK(broken.first_count_violation.find("n1 counted") == 0);
  CHECK(broken.safety_ok);  // too high a count only denies more

  const RunResult fixed = run_simulation(intact(scenario));
  INFO(summary_text(fixed));
  CHECK(all_ok(fixed));
}

TEST_CASE("a node that never repairs fails the convergence check after a heal") {
  const Scenario scenario = load("broken-no-repair.toml");
  const RunResult broken = run_simulation(scenario);
  INFO(summary_text(broken));
  CHECK_FALSE(broken.liveness_ok);
  CHECK(broken.counts_ok);

  const RunResult fixed = run_simulation(intact(scenario));
  INFO(summary_text(fixed));
  CHECK(all_ok(fixed));
}

TEST_CASE("a scenario names its broken nodes by kind, and an unknown kind is refused") {
  const std::string base = "nodes = 3\n[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1s\"\n";
  auto good = parse_scenario(base + "[[broken_node]]\nnode = 2\nkind = \"no_repair\"\n", "t");
  REQUIRE(good.ok());
  REQUIRE(good->broken_nodes.size() == 1);
  CHECK(good->broken_nodes[0].node == 2);
  CHECK(good->broken_nodes[0].kind == BrokenKind::no_repair);

  auto bad = parse_scenario(base + "[[broken_node]]\nnode = 0\nkind = \"sleepy\"\n", "t");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("kind must be") != std::string::npos);
  CHECK_FALSE(parse_scenario(base + "[[broken_node]]\nnode = 3\nkind = \"no_repair\"\n", "t").ok());
}

TEST_CASE("a node that takes every right of a hard limit fails the hard-limit check") {
  const Scenario scenario = load("broken-hard-alone.toml");
  const RunResult broken = run_simulation(scenario);
  INFO(summary_text(broken));
  CHECK(broken.hard_violations > 0);
  CHECK_FALSE(broken.safety_ok);
  CHECK(broken.counts_ok);

  const RunResult fixed = run_simulation(intact(scenario));
  INFO(summary_text(fixed));
  CHECK(all_ok(fixed));
  CHECK(fixed.hard_windows > 0);
  CHECK(fixed.hard_violations == 0);
}

TEST_CASE(
    "a node that takes its share of a hard limit before the members it lists agree fails the "
    "hard-limit check") {
  const Scenario scenario = load("broken-hard-unagreed.toml");
  const RunResult broken = run_simulation(scenario);
  INFO(summary_text(broken));
  CHECK(broken.hard_violations > 0);
  CHECK_FALSE(broken.safety_ok);

  const RunResult fixed = run_simulation(intact(scenario));
  INFO(summary_text(fixed));
  CHECK(all_ok(fixed));
  CHECK(fixed.hard_windows > 0);
  CHECK(fixed.hard_violations == 0);
}
