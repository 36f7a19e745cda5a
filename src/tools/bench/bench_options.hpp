// drl-bench's command line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "tools/bench/key_generator.hpp"

namespace drl::bench {

enum class Target { drl, redis_fixed, redis_sliding, echo };

enum class Mode {
  load,           // a timed run (closed or open loop)
  fill_keys,      // each of --fill-keys keys once, with the server's memory before and after
  report_memory,  // the server's keys and memory, now
  echo_server,    // serve as the floor
};

struct BenchOptions {
  Mode mode = Mode::load;
  Target target = Target::drl;
  std::string socket_path;
  std::uint32_t connections = 1;
  std::uint32_t inflight = 1;
  std::uint32_t batch = 1;
  std::uint64_t keys = 100'000;
  KeyDistribution distribution = KeyDistribution::uniform;
  double zipf_exponent = 0.99;
  std::uint32_t cost = 1;
  std::uint64_t duration_ms = 5'000;
  std::uint64_t warmup_ms = 1'000;
  double rate_per_s = 0;  // 0: closed loop
  std::string policy = "bench-fixed";
  std::uint64_t limit = 1'000'000'000;
  std::uint64_t window_ms = 60'000;
  std::uint32_t threads = 1;
  std::uint64_t seed = 1;
  std::string key_prefix = "k";
  std::uint64_t fill_keys = 0;
  bool json = false;
  std::string label;
  std::optional<pid_t> server_pid;
};

// The options, or nothing after printing help (exit 0) or an error (exit 2) as `exit_code`.
std::optional<BenchOptions> parse_bench_options(int argc, char** argv, int& exit_code);

const char* target_name(Target target);
const char* distribution_name(KeyDistribution distribution);

}  // namespace drl::bench
