// The two clocks of drl, as distinct types so that one is never passed for the other.
//
// WallTime is only used to name windows (window_id = floor(unix_ms / window_ms)), so that all
// nodes agree on window boundaries. MonoTime is for intervals and timeouts. The core never
// reads either clock: callers pass the time in.
#pragma once

#include <compare>
#include <cstdint>

namespace drl::core {

struct WallTime {
  std::int64_t unix_ms = 0;  // milliseconds since the Unix epoch (UTC)
  auto operator<=>(const WallTime&) const = default;
};

struct MonoTime {
  std::int64_t ns = 0;  // nanoseconds from an arbitrary, fixed origin
  auto operator<=>(const MonoTime&) const = default;
};

inline constexpr std::int64_t ns_per_ms = 1'000'000;

// `ms` milliseconds after `t`.
constexpr MonoTime after_ms(MonoTime t, std::int64_t ms) {
  return MonoTime{t.ns + ms * ns_per_ms};
}

}  // namespace drl::core
