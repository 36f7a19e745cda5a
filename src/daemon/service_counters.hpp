// What one worker's service counts. Each worker writes only its own; readers sum them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "drl/error.hpp"

namespace drl::daemon {

inline constexpr std::size_t errc_count = static_cast<std::size_t>(Errc::protocol_error) + 1;

struct alignas(64) ServiceCounters {
  std::atomic<std::uint64_t> checks_allowed{0};
  std::atomic<std::uint64_t> checks_denied{0};
  std::atomic<std::uint64_t> checks_shadow_denied{0};  // allowed because the policy is shadow
  std::atomic<std::uint64_t> checks_tier_unknown{0};
  std::atomic<std::uint64_t> requests{0};
  std::array<std::atomic<std::uint64_t>, errc_count> errors{};

  // Single writer: a plain load and store, no read-modify-write on a shared line.
  static void bump(std::atomic<std::uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

}  // namespace drl::daemon
