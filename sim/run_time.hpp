// True time in the simulator: nanoseconds since the start of the run, the same for every node
// (each node's clocks are derived from it, skewed as the scenario says).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/time.hpp"

namespace drl::sim {

using core::ns_per_ms;

// Wall clocks start here (a fixed date, so that runs are reproducible): 2027-01-15T08:00:00Z.
inline constexpr std::int64_t kEpochUnixMs = 1'800'000'000'000;

// `s` seconds of true time, in nanoseconds.
inline std::int64_t run_ns(double s) {
  return static_cast<std::int64_t>(std::llround(s * 1e9));
}

// "1.250s": a moment of true time in a report line.
inline std::string format_run_seconds(std::int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(ns) / 1e9);
  return text;
}

}  // namespace drl::sim
