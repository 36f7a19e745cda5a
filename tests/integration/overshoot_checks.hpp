// What every overshoot run of the cluster tests checks (docs/replication.md, "The model of
// overshoot"): every check answered, every full window measured and within the model's bound,
// and, offered above the limit, each reaching it (no node's view is ever above the truth, so
// none denies early); after the traffic, the nodes agreed.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>

#include "cluster_harness.hpp"

namespace drl::integration {

// `fills`: whether every full window must reach the limit (a sliding window offered 3x admits
// what the previous window's weight leaves, less than the limit after the first window).
inline void check_windows_within_bound(const OvershootRun& run, const OvershootSettings& settings,
                                       std::uint64_t bound, bool fills = true) {
  CHECK(run.checks_failed == 0);
  REQUIRE(run.full_windows.size() == settings.windows);
  for (const WindowCount& window : run.full_windows) {
    INFO("window " << window.window_id);
    if (fills) CHECK(window.admitted >= settings.limit);
    CHECK(window.admitted <= bound);
  }
  INFO(run.failure);
  CHECK(run.converged);
}

}  // namespace drl::integration
