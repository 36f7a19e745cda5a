// What one timed run measured, and its two renderings: a few lines for people, one JSON line
// (flat: every field a number or a string) for scripts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/target_protocol.hpp"

namespace drl::bench {

struct RunReport {
  BenchOptions options;
  double measured_seconds = 0;
  std::uint64_t requests = 0;  // answered within the measured interval
  AnswerTally tally;           // per check
  std::uint64_t sent = 0;      // requests written, warm-up included
  std::size_t backlog_max = 0;
  LatencyHistogram latency;
  double client_cpu_seconds = 0;  // this process, all threads, over the measured interval
  std::optional<double> server_cpu_seconds;
  std::optional<std::int64_t> server_pid;

  std::uint64_t checks() const { return requests * options.batch; }
  double requests_per_s() const;
  double checks_per_s() const;
};

std::string report_json(const RunReport& report);
std::string report_text(const RunReport& report);

}  // namespace drl::bench
