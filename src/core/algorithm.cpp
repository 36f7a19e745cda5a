#include "core/algorithm.hpp"

#include <algorithm>

namespace drl::core {
namespace {

// Products of counts (< 2^35 summed over origins in practice) and windows (< 2^35 ms, 366 days)
// can pass 2^64; 128-bit arithmetic keeps every comparison exact.
__extension__ using u128 = unsigned __int128;

LimitVerdict decide_fixed(const LimitInput& in) {
  const std::uint64_t window_left_ms = in.window_ms - in.elapsed_ms;
  LimitVerdict out;
  out.allowed = in.counts.current + in.cost <= in.limit;
  const std::uint64_t count = out.allowed ? in.counts.current + in.cost : in.counts.current;
  out.remaining = count < in.limit ? in.limit - count : 0;
  out.reset_after_ms = count > 0 ? in.lead_ms + window_left_ms : 0;
  // The next window starts at zero and cost <= limit, so it is admitted there.
  out.retry_after_ms = out.allowed ? 0 : in.lead_ms + window_left_ms;
  return out;
}

// Earliest elapsed time e' in a window whose previous count is `previous` such that
// previous * (W - e') / W + current + cost <= limit, or W when no e' < W works.
std::uint64_t earliest_elapsed_admitting(std::uint64_t previous, std::uint64_t current,
                                         std::uint64_t cost, std::uint64_t limit,
                                         std::uint64_t window_ms) {
  if (current + cost > limit) return window_ms;
  if (previous == 0) return 0;
  // previous * (W - e') <= (limit - current - cost) * W
  //   <=> W - e' <= floor((limit - current - cost) * W / previous)
  const u128 headroom = static_cast<u128>(limit - current - cost) * window_ms / previous;
  if (headroom >= window_ms) return 0;
  return window_ms - static_cast<std::uint64_t>(headroom);
}

LimitVerdict decide_sliding(const LimitInput& in) {
  const std::uint64_t w = in.window_ms;
  const std::uint64_t window_left_ms = w - in.elapsed_ms;
  // The estimate times W, exactly: previous * (W - elapsed) + current * W.
  const u128 weighted_previous = static_cast<u128>(in.counts.previous) * window_left_ms;
  const auto scaled = [&](std::uint64_t current) {
    return weighted_previous + static_cast<u128>(current) * w;
  };
  const u128 scaled_limit = static_cast<u128>(in.limit) * w;

  LimitVerdict out;
  out.allowed = scaled(in.counts.current + in.cost) <= scaled_limit;
  const std::uint64_t current = out.allowed ? in.counts.current + in.cost : in.counts.current;

  const u128 used = scaled(current);
  // 64-bit division when the operands fit, as they do for all but huge limits and windows.
  const u128 headroom = used >= scaled_limit ? 0 : scaled_limit - used;
  out.remaining = headroom <= UINT64_MAX ? static_cast<std::uint64_t>(headroom) / w
                                         : static_cast<std::uint64_t>(headroom / w);

  // The estimate reaches zero when the current window's count leaves the sliding window (end of
  // the next window), or, with only a previous count, at the end of this window.
  if (current > 0) {
    out.reset_after_ms = in.lead_ms + window_left_ms + w;
  } else if (in.counts.previous > 0) {
    out.reset_after_ms = in.lead_ms + window_left_ms;
  } else {
    out.reset_after_ms = 0;
  }

  if (!out.allowed) {
    // Later in this window, as the previous window's weight decays ...
    const std::uint64_t here =
        earliest_elapsed_admitting(in.counts.previous, in.counts.current, in.cost, in.limit, w);
    if (here < w) {
      out.retry_after_ms = in.lead_ms + (here - in.elapsed_ms);
    } else {
      // ... or in the next one, where this window's count becomes the previous count. cost <=
      // limit, so this always succeeds by the end of the next window.
      const std::uint64_t next =
          earliest_elapsed_admitting(in.counts.current, 0, in.cost, in.limit, w);
      out.retry_after_ms = in.lead_ms + window_left_ms + next;
    }
  }
  return out;
}

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::sliding:
      return "sliding";
    case Algorithm::fixed:
      return "fixed";
  }
  return "sliding";
}

std::optional<Algorithm> algorithm_from_name(std::string_view name) {
  if (name == "sliding") return Algorithm::sliding;
  if (name == "fixed") return Algorithm::fixed;
  return std::nullopt;
}

LimitVerdict decide(const LimitInput& input) {
  return input.algorithm == Algorithm::fixed ? decide_fixed(input) : decide_sliding(input);
}

}  // namespace drl::core
