#include "tools/bench/bench_options.hpp"

#include <cxxopts.hpp>

#include <cstdio>
#include <iostream>

#include "core/bounds.hpp"
#include "core/duration.hpp"

namespace drl::bench {
namespace {

struct BadOption {
  std::string message;
};

const char* const kUsage =
    "drl-bench: load generator for drld, with Redis and an echo server as baselines.\n"
    "\n"
    "  drl-bench --target drl --socket PATH [load options]      a timed run\n"
    "  drl-bench --target redis-fixed --socket PATH --limit N --window D ...\n"
    "  drl-bench --echo-server PATH                             serve as the floor\n"
    "  drl-bench --target drl|redis-fixed|redis-sliding --socket PATH --fill-keys N\n"
    "                                           each key once; bytes per key (docs/benchmarks.md)\n"
    "  drl-bench --target drl|redis-fixed --socket PATH --report-memory\n";

Target parse_target(const std::string& text) {
  if (text == "drl") return Target::drl;
  if (text == "redis-fixed") return Target::redis_fixed;
  if (text == "redis-sliding") return Target::redis_sliding;
  if (text == "echo") return Target::echo;
  throw BadOption{"--target must be drl, redis-fixed, redis-sliding or echo"};
}

KeyDistribution parse_distribution(const std::string& text) {
  if (text == "uniform") return KeyDistribution::uniform;
  if (text == "zipf") return KeyDistribution::zipf;
  if (text == "sequential") return KeyDistribution::sequential;
  throw BadOption{"--distribution must be uniform, zipf or sequential"};
}

std::uint64_t parse_ms(const std::string& text, const char* option) {
  const std::optional<std::uint64_t> ms = core::parse_duration_ms(text);
  if (!ms) throw BadOption{std::string(option) + " takes a duration such as 500ms, 5s, 1m"};
  return *ms;
}

template <class T>
T in_range(T value, T low, T high, const char* option) {
  if (value < low || value > high) {
    throw BadOption{std::string(option) + " must be between " + std::to_string(low) + " and " +
                    std::to_string(high)};
  }
  return value;
}

}  // namespace

const char* target_name(Target target) {
  switch (target) {
    case Target::drl:
      return "drl";
    case Target::redis_fixed:
      return "redis-fixed";
    case Target::redis_sliding:
      return "redis-sliding";
    case Target::echo:
      return "echo";
  }
  return "?";
}

const char* distribution_name(KeyDistribution distribution) {
  switch (distribution) {
    case KeyDistribution::uniform:
      return "uniform";
    case KeyDistribution::zipf:
      return "zipf";
    case KeyDistribution::sequential:
      return "sequential";
  }
  return "?";
}

std::optional<BenchOptions> parse_bench_options(int argc, char** argv, int& exit_code) {
  cxxopts::Options spec("drl-bench", kUsage);
  // clang-format off
  spec.add_options()
      ("target", "drl, redis-fixed, redis-sliding or echo", cxxopts::value<std::string>()->default_value("drl"), "T")
      ("socket", "the server's Unix socket", cxxopts::value<std::string>(), "PATH")
      ("connections", "client connections", cxxopts::value<std::uint32_t>()->default_value("1"), "N")
      ("inflight", "requests in flight per connection (pipelining); open loop: the cap", cxxopts::value<std::uint32_t>()->default_value("1"), "N")
      ("batch", "checks per request (drl and echo: op batch when above 1)", cxxopts::value<std::uint32_t>()->default_value("1"), "N")
      ("keys", "distinct keys", cxxopts::value<std::uint64_t>()->default_value("100000"), "N")
      ("distribution", "uniform, zipf or sequential", cxxopts::value<std::string>()->default_value("uniform"), "D")
      ("zipf-exponent", "exponent of the Zipf distribution", cxxopts::value<double>()->default_value("0.99"), "S")
      ("cost", "cost of each check", cxxopts::value<std::uint32_t>()->default_value("1"), "N")
      ("duration", "measured time", cxxopts::value<std::string>()->default_value("5s"), "D")
      ("warmup", "time before measuring", cxxopts::value<std::string>()->default_value("1s"), "D")
      ("rate", "open loop: requests per second in all, at fixed intervals; 0: closed loop", cxxopts::value<double>()->default_value("0"), "R")
      ("policy", "drl: the policy checked", cxxopts::value<std::string>()->default_value("bench-fixed"), "P")
      ("limit", "redis: the limit per window (set it as the drl policy's)", cxxopts::value<std::uint64_t>()->default_value("1000000000"), "N")
      ("window", "redis: the window (set it as the drl policy's)", cxxopts::value<std::string>()->default_value("1m"), "D")
      ("threads", "client threads (event loops)", cxxopts::value<std::uint32_t>()->default_value("1"), "N")
      ("seed", "seed of the key streams", cxxopts::value<std::uint64_t>()->default_value("1"), "N")
      ("key-prefix", "keys are PREFIX<rank>", cxxopts::value<std::string>()->default_value("k"), "TEXT")
      ("server-pid", "the server's pid, for its CPU time (found by itself for drl and redis)", cxxopts::value<int>(), "PID")
      ("label", "a name for this run, copied to the report", cxxopts::value<std::string>()->default_value(""), "TEXT")
      ("json", "print one JSON line per run instead of text")
      ("fill-keys", "send each of N keys once (sequential), report bytes per key", cxxopts::value<std::uint64_t>(), "N")
      ("report-memory", "print the server's keys, memory and RSS")
      ("echo-server", "run the echo server (the floor) on PATH", cxxopts::value<std::string>(), "PATH")
      ("h,help", "print this help");
  // clang-format on
  try {
    const cxxopts::ParseResult args = spec.parse(argc, argv);
    if (args.count("help") != 0) {
      std::cout << spec.help() << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    if (!args.unmatched().empty())
      throw BadOption{"unexpected argument '" + args.unmatched().front() + "'"};
    BenchOptions options;
    if (args.count("echo-server") != 0) {
      options.mode = Mode::echo_server;
      options.socket_path = args["echo-server"].as<std::string>();
      return options;
    }
    options.target = parse_target(args["target"].as<std::string>());
    if (args.count("socket") == 0) throw BadOption{"--socket PATH is required"};
    options.socket_path = args["socket"].as<std::string>();
    options.connections = in_range<std::uint32_t>(args["connections"].as<std::uint32_t>(), 1,
                                                  100'000, "--connections");
    options.inflight =
        in_range<std::uint32_t>(args["inflight"].as<std::uint32_t>(), 1, 1'000'000, "--inflight");
    options.batch =
        in_range<std::uint32_t>(args["batch"].as<std::uint32_t>(), 1,
                                static_cast<std::uint32_t>(bounds::batch_checks_max), "--batch");
    options.keys = in_range<std::uint64_t>(args["keys"].as<std::uint64_t>(), 1,
                                           std::uint64_t{1} << 40, "--keys");
    options.distribution = parse_distribution(args["distribution"].as<std::string>());
    options.zipf_exponent = args["zipf-exponent"].as<double>();
    if (!(options.zipf_exponent > 0 && options.zipf_exponent <= 10))
      throw BadOption{"--zipf-exponent must be above 0 and at most 10"};
    options.cost = args["cost"].as<std::uint32_t>();
    options.duration_ms = parse_ms(args["duration"].as<std::string>(), "--duration");
    if (options.duration_ms == 0) throw BadOption{"--duration must be above 0"};
    options.warmup_ms = parse_ms(args["warmup"].as<std::string>(), "--warmup");
    options.rate_per_s = args["rate"].as<double>();
    if (!(options.rate_per_s >= 0 && options.rate_per_s <= 1e8))
      throw BadOption{"--rate must be between 0 and 100000000"};
    options.policy = args["policy"].as<std::string>();
    options.limit =
        in_range<std::uint64_t>(args["limit"].as<std::uint64_t>(), 1, bounds::limit_max, "--limit");
    options.window_ms = parse_ms(args["window"].as<std::string>(), "--window");
    if (options.window_ms == 0) throw BadOption{"--window must be above 0"};
    options.threads =
        in_range<std::uint32_t>(args["threads"].as<std::uint32_t>(), 1, 64, "--threads");
    options.threads = std::min(options.threads, options.connections);
    options.seed = args["seed"].as<std::uint64_t>();
    options.key_prefix = args["key-prefix"].as<std::string>();
    options.json = args.count("json") != 0;
    options.label = args["label"].as<std::string>();
    if (args.count("server-pid") != 0)
      options.server_pid = static_cast<pid_t>(args["server-pid"].as<int>());
    if (options.batch > 1 &&
        (options.target == Target::redis_fixed || options.target == Target::redis_sliding))
      throw BadOption{"--batch applies to drl and echo; Redis gets one EVALSHA per check"};
    if (args.count("fill-keys") != 0) {
      options.mode = Mode::fill_keys;
      options.fill_keys = in_range<std::uint64_t>(args["fill-keys"].as<std::uint64_t>(), 1,
                                                  std::uint64_t{1} << 32, "--fill-keys");
      if (options.target == Target::echo) throw BadOption{"--fill-keys needs drl or redis"};
      if (options.rate_per_s > 0) throw BadOption{"--fill-keys runs a closed loop; drop --rate"};
    } else if (args.count("report-memory") != 0) {
      options.mode = Mode::report_memory;
      if (options.target == Target::echo) throw BadOption{"--report-memory needs drl or redis"};
    }
    return options;
  } catch (const BadOption& bad) {
    std::fprintf(stderr, "drl-bench: %s (see drl-bench --help)\n", bad.message.c_str());
  } catch (const cxxopts::exceptions::exception& error) {
    std::fprintf(stderr, "drl-bench: %s (see drl-bench --help)\n", error.what());
  }
  exit_code = 2;
  return std::nullopt;
}

}  // namespace drl::bench
