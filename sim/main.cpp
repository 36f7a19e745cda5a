// drl-sim: the real drl node code on a simulated network. See `drl-sim --help` and
// docs/simulation.md.
//
// Exit status: 0 when every checked bound held, 1 when safety or liveness was violated, 2 on a
// usage or scenario error.
#include <cxxopts.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "config/config.hpp"
#include "core/duration.hpp"
#include "sim/report.hpp"
#include "sim/scenario.hpp"
#include "sim/simulation.hpp"
#include "sim/swarm.hpp"

namespace {

using drl::sim::RunResult;
using drl::sim::Scenario;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::uint64_t duration_ms(const std::string& text, const char* option) {
  const auto ms = drl::core::parse_duration_ms(text);
  if (!ms) throw std::runtime_error(std::string("--") + option + " takes a duration such as 5ms");
  return *ms;
}

void apply_overrides(const cxxopts::ParseResult& args, Scenario& s) {
  if (args.count("nodes") != 0) s.nodes = args["nodes"].as<int>();
  if (args.count("duration") != 0) {
    // The quiet time after the traffic (for convergence) keeps its length.
    const double quiet_s = s.duration_s - s.workload.stop_s;
    s.duration_s =
        static_cast<double>(duration_ms(args["duration"].as<std::string>(), "duration")) / 1000.0;
    s.workload.stop_s = std::max(0.0, s.duration_s - quiet_s);
  }
  if (args.count("gossip-interval") != 0) {
    s.cluster.gossip_interval_ms =
        duration_ms(args["gossip-interval"].as<std::string>(), "gossip-interval");
  }
  if (args.count("latency-ms") != 0) s.link.latency_ms = args["latency-ms"].as<double>();
  if (args.count("jitter-ms") != 0) s.link.jitter_ms = args["jitter-ms"].as<double>();
  if (args.count("loss") != 0) s.link.loss = args["loss"].as<double>();
  if (args.count("duplicate") != 0) s.link.duplicate = args["duplicate"].as<double>();
  if (args.count("offered") != 0) s.workload.offered = args["offered"].as<double>();
  if (args.count("keys") != 0) s.workload.keys = args["keys"].as<std::uint64_t>();
  if (args.count("spread") != 0) s.workload.spread = args["spread"].as<std::string>();
  if (args.count("partition-policy") != 0) {
    const auto parsed =
        drl::core::parse_partition_policy(args["partition-policy"].as<std::string>());
    if (!parsed) throw std::runtime_error("--partition-policy must be optimistic or proportional");
    s.cluster.partition_policy = *parsed;
  }
  if (args.count("dissemination") != 0) {
    const auto parsed = drl::core::parse_dissemination(args["dissemination"].as<std::string>());
    if (!parsed) throw std::runtime_error("--dissemination must be auto, mesh or owners");
    s.cluster.dissemination = *parsed;
  }
  if (s.nodes < 1 || s.nodes > 5000) throw std::runtime_error("--nodes must be between 1 and 5000");
  if (s.link.loss < 0 || s.link.loss > 1 || s.link.duplicate < 0 || s.link.duplicate > 1) {
    throw std::runtime_error("--loss and --duplicate are probabilities between 0 and 1");
  }
  if (s.workload.spread != "round_robin" && s.workload.spread != "random" &&
      s.workload.spread != "sticky") {
    throw std::runtime_error("--spread must be round_robin, random or sticky");
  }
}

// --break-node KIND: node 0 broken that way (docs/simulation.md, "Checking the checks").
std::optional<drl::sim::BrokenKind> broken_kind_of(const cxxopts::ParseResult& args) {
  if (args.count("break-node") == 0) return std::nullopt;
  const auto kind = drl::sim::parse_broken_kind(args["break-node"].as<std::string>());
  if (!kind)
    throw std::runtime_error(
        "--break-node must be drop_deltas, double_count, no_repair, hard_alone or hard_unagreed");
  return kind;
}

int run_swarm(std::uint64_t first_seed, std::uint64_t count, bool quiet, bool json,
              std::optional<drl::sim::BrokenKind> broken) {
  std::uint64_t failures = 0;
  double wall = 0;
  std::uint64_t checks = 0;
  std::uint64_t hard_seeds = 0;
  std::uint64_t hard_windows = 0;
  std::uint64_t members_changed = 0;  // hard seeds whose members changed by rolling restarts
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t seed = first_seed + i;
    Scenario scenario = drl::sim::swarm_scenario(seed);
    if (broken) scenario.broken_nodes.push_back(drl::sim::BrokenNode{0, *broken});
    const RunResult result = drl::sim::run_simulation(scenario);
    wall += result.wall_seconds;
    checks += result.checks;
    hard_seeds += result.hard_windows > 0 ? 1 : 0;
    hard_windows += result.hard_windows;
    members_changed += result.hard_windows > 0 && !scenario.members.empty() ? 1 : 0;
    const bool ok = result.safety_ok && result.liveness_ok && result.counts_ok;
    if (json) {
      std::puts(drl::sim::summary_json(result).c_str());
    } else if (!ok || !quiet) {
      double worst = 0;
      for (const auto& limit : result.limits) worst = std::max(worst, limit.overshoot_max_percent);
      double slowest = 0;
      for (const auto& c : result.convergence) slowest = std::max(slowest, c.took_ms);
      std::printf("seed %llu: %s | overshoot max %.1f%%, convergence max %.0f ms: %s\n",
                  static_cast<unsigned long long>(seed), drl::sim::describe(scenario).c_str(),
                  worst, slowest, ok ? "ok" : "FAILED");
    }
    if (!ok) {
      ++failures;
      std::fputs(drl::sim::summary_text(result).c_str(), stdout);
      std::printf("reproduce with: drl-sim --swarm 1 --seed %llu%s%s\n",
                  static_cast<unsigned long long>(seed), broken ? " --break-node " : "",
                  broken ? std::string(drl::sim::broken_kind_name(*broken)).c_str() : "");
    }
  }
  if (!json) {
    std::printf("swarm: %llu seeds from %llu, %llu failed; %llu checks in %.1f s of wall time\n",
                static_cast<unsigned long long>(count), static_cast<unsigned long long>(first_seed),
                static_cast<unsigned long long>(failures), static_cast<unsigned long long>(checks),
                wall);
    if (hard_seeds > 0) {
      std::printf(
          "swarm: %llu seeds with a hard limit (%llu of them with a change of the members), "
          "%llu (key, window) pairs held to it\n",
          static_cast<unsigned long long>(hard_seeds),
          static_cast<unsigned long long>(members_changed),
          static_cast<unsigned long long>(hard_windows));
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options spec("drl-sim", "the real drl node code on a simulated network");
  spec.positional_help("[SCENARIO.toml]");
  spec.add_options()("scenario", "scenario file (default: a built-in 3-node scenario)",
                     cxxopts::value<std::string>())(
      "seed", "seed of the run (default: the scenario's)", cxxopts::value<std::uint64_t>(), "N")(
      "json", "print the summary as one JSON object")(
      "csv", "write the per-window timeline to FILE", cxxopts::value<std::string>(), "FILE")(
      "plot", "draw admitted against the limit into FILE.png (with gnuplot; implies a CSV)",
      cxxopts::value<std::string>(), "FILE")(
      "swarm", "run N seeds (from --seed) with randomized faults; fail if any violates a bound",
      cxxopts::value<std::uint64_t>(), "N")("quiet", "with --swarm: print failing seeds only")(
      "nodes", "override: number of nodes", cxxopts::value<int>(), "N")(
      "duration", "override: simulated duration", cxxopts::value<std::string>(), "D")(
      "gossip-interval", "override: gossip interval", cxxopts::value<std::string>(), "D")(
      "latency-ms", "override: one-way latency", cxxopts::value<double>(), "MS")(
      "jitter-ms", "override: latency jitter", cxxopts::value<double>(), "MS")(
      "loss", "override: datagram loss probability", cxxopts::value<double>(), "P")(
      "duplicate", "override: datagram duplication probability", cxxopts::value<double>(), "P")(
      "offered", "override: offered rate per key, as a multiple of the limit",
      cxxopts::value<double>(),
      "X")("keys", "override: number of keys", cxxopts::value<std::uint64_t>(), "N")(
      "spread", "override: round_robin, random or sticky", cxxopts::value<std::string>(), "S")(
      "partition-policy", "override: optimistic or proportional", cxxopts::value<std::string>(),
      "P")("dissemination", "override: auto, mesh or owners", cxxopts::value<std::string>(),
           "MODE")(
      "break-node",
      "break node 0 on purpose: drop_deltas, double_count, no_repair, hard_alone or hard_unagreed",
      cxxopts::value<std::string>(), "KIND")("h,help", "print this help");
  spec.parse_positional({"scenario"});
  try {
    const cxxopts::ParseResult args = spec.parse(argc, argv);
    if (args.count("help") != 0) {
      std::cout << spec.help() << "\n";
      return 0;
    }
    const bool json = args.count("json") != 0;
    if (args.count("swarm") != 0) {
      const std::uint64_t seed = args.count("seed") != 0 ? args["seed"].as<std::uint64_t>() : 1;
      if (!json)
        std::printf("drl-sim: swarm of %llu seeds from seed %llu\n",
                    static_cast<unsigned long long>(args["swarm"].as<std::uint64_t>()),
                    static_cast<unsigned long long>(seed));
      return run_swarm(seed, args["swarm"].as<std::uint64_t>(), args.count("quiet") != 0, json,
                       broken_kind_of(args));
    }
    const std::string path = args.count("scenario") != 0 ? args["scenario"].as<std::string>() : "";
    const std::string text = path.empty() ? drl::sim::default_scenario_text() : read_file(path);
    drl::Result<Scenario> parsed =
        drl::sim::parse_scenario(text, path.empty() ? "(built-in scenario)" : path);
    if (!parsed.ok()) {
      std::fprintf(stderr, "drl-sim: %s\n", parsed.error().message.c_str());
      return 2;
    }
    Scenario scenario = std::move(parsed.value());
    if (args.count("seed") != 0) scenario.seed = args["seed"].as<std::uint64_t>();
    apply_overrides(args, scenario);
    if (const auto broken = broken_kind_of(args))
      scenario.broken_nodes.push_back(drl::sim::BrokenNode{0, *broken});
    if (!json) std::printf("drl-sim: seed %llu\n", static_cast<unsigned long long>(scenario.seed));
    const RunResult result = drl::sim::run_simulation(scenario);
    std::puts(json ? drl::sim::summary_json(result).c_str()
                   : drl::sim::summary_text(result).c_str());
    std::string csv_path = args.count("csv") != 0 ? args["csv"].as<std::string>() : "";
    if (csv_path.empty() && args.count("plot") != 0)
      csv_path = args["plot"].as<std::string>() + ".csv";
    if (!csv_path.empty()) {
      std::ofstream(csv_path) << drl::sim::timeline_csv(result);
    }
    bool plot_failed = false;
    if (args.count("plot") != 0) {
      const std::string error =
          drl::sim::plot_timeline(result, csv_path, args["plot"].as<std::string>());
      if (!error.empty()) std::fprintf(stderr, "drl-sim: %s\n", error.c_str());
      plot_failed = !error.empty();
    }
    if (!json) {
      std::fprintf(
          stderr, "drl-sim: %llu checks in %.2f s of wall time (%.0f checks/s)\n",
          static_cast<unsigned long long>(result.checks), result.wall_seconds,
          result.wall_seconds > 0 ? static_cast<double>(result.checks) / result.wall_seconds : 0.0);
    }
    if (!result.safety_ok || !result.liveness_ok || !result.counts_ok) {
      std::printf("reproduce with: drl-sim %s--seed %llu\n",
                  path.empty() ? "" : (path + " ").c_str(),
                  static_cast<unsigned long long>(scenario.seed));
      return 1;
    }
    return plot_failed ? 2 : 0;  // the run passed, but the picture asked for is missing
  } catch (const std::exception& error) {
    std::fprintf(stderr, "drl-sim: %s (see drl-sim --help)\n", error.what());
    return 2;
  }
}
