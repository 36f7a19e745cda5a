// The limiting algorithms: given the counts of a key's current and previous window, decide a
// check and compute exactly how much is left and how long to wait.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace drl::core {

enum class Algorithm : std::uint8_t {
  // estimate = previous * (window - elapsed) / window + current: the previous window's total
  // weighted by the part of it still inside a window-long sliding window ending now.
  sliding,
  // estimate = current: the count of the epoch-aligned window that holds now.
  fixed,
};

std::string_view algorithm_name(Algorithm algorithm);
std::optional<Algorithm> algorithm_from_name(std::string_view name);

// Totals over all origins.
struct WindowCounts {
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
};

struct LimitInput {
  Algorithm algorithm = Algorithm::sliding;
  std::uint64_t limit = 0;      // >= 1
  std::uint64_t window_ms = 0;  // >= 1
  WindowCounts counts;
  std::uint64_t elapsed_ms = 0;  // since the start of the current window; < window_ms
  // How far the counted window starts after now (when another node's clock is ahead and its
  // counts already moved on). The decision is made as if at that start, and every wait grows
  // by lead_ms: conservative, and continuous with the end of the previous window.
  std::uint64_t lead_ms = 0;
  std::uint64_t cost = 0;  // <= limit; 0 is a peek
};

struct LimitVerdict {
  bool allowed = false;
  std::uint64_t remaining = 0;       // largest cost that would be admitted right after
  std::uint64_t reset_after_ms = 0;  // until remaining == limit again, with no new traffic
  std::uint64_t retry_after_ms = 0;  // 0 if allowed; else until this cost would be admitted
};

// The verdict after the check: when allowed, remaining and reset_after already include cost.
LimitVerdict decide(const LimitInput& input);

}  // namespace drl::core
