// Window arithmetic of the counter store (internal: only the store's sources include this):
// window lengths coded in 32 bits, the window that holds a time, and a window's full id from the
// low 32 bits an entry keeps of it.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/bounds.hpp"
#include "core/time.hpp"

namespace drl::core {

// A window length in 32 bits: milliseconds up to bounds::window_ms_any_max (31 days, below
// 2^32), else kLongWindowCode plus whole seconds (up to 366 days). Every window drl accepted
// before it took windows over 31 days keeps its plain value; the longer ones, whole seconds by
// bounds::window_ms_valid, fit above it.
constexpr std::uint32_t kLongWindowCode = 0xf000'0000U;
static_assert(bounds::window_ms_any_max < kLongWindowCode);
static_assert(bounds::window_ms_max / bounds::window_long_step_ms <=
              0xffff'ffffU - kLongWindowCode);

inline std::uint32_t window_code(std::uint64_t window_ms) {
  return window_ms <= bounds::window_ms_any_max
             ? static_cast<std::uint32_t>(window_ms)
             : kLongWindowCode +
                   static_cast<std::uint32_t>(window_ms / bounds::window_long_step_ms);
}

inline std::uint64_t window_ms_of(std::uint32_t code) {
  return code < kLongWindowCode
             ? code
             : std::uint64_t{code - kLongWindowCode} * bounds::window_long_step_ms;
}

// The id of the window of `window_ms` that holds `now` (times before the epoch: window 0).
inline std::uint64_t window_id_at(WallTime now, std::uint64_t window_ms) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0)) / window_ms;
}

// The full id of a window from its low 32 bits, given the id of the window that holds now.
inline std::uint64_t window_from_low(std::uint32_t window_low, std::uint64_t now_window) {
  const auto delta = static_cast<std::int32_t>(window_low - static_cast<std::uint32_t>(now_window));
  return now_window + static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
}

}  // namespace drl::core
