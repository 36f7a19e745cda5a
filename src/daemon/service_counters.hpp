// What the client servers count: one block per socket worker (a single writer each, so a
// plain load and store, no read-modify-write on a shared cache line) and one for the HTTP
// endpoint (written by the HTTP threads: atomic increments). Readers sum the blocks.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "daemon/policy_ids.hpp"
#include "drl/error.hpp"

namespace drl::daemon {

inline constexpr std::size_t errc_count = static_cast<std::size_t>(Errc::invalid_argument) + 1;

// Upper bounds of the check latency histogram, in nanoseconds (then +Inf).
inline constexpr std::array<std::uint64_t, 12> latency_bounds_ns{
    1'000,   2'500,   5'000,   10'000,    25'000,    50'000,
    100'000, 250'000, 500'000, 1'000'000, 5'000'000, 25'000'000};

struct PolicyCounts {
  std::atomic<std::uint64_t> allowed{0};
  std::atomic<std::uint64_t> denied{0};
  std::atomic<std::uint64_t> shadow_denied{0};  // allowed because the policy is in shadow mode
};

struct alignas(64) ServiceCounters {
  explicit ServiceCounters(bool shared_writers = false)
      : shared(shared_writers), per_policy(new PolicyCounts[PolicyIds::capacity]) {}

  const bool shared;
  std::atomic<std::uint64_t> checks_allowed{0};
  std::atomic<std::uint64_t> checks_denied{0};
  std::atomic<std::uint64_t> checks_shadow_denied{0};
  std::atomic<std::uint64_t> checks_tier_unknown{0};
  std::atomic<std::uint64_t> checks_denied_without_rights{0};  // CheckOutcome's
  std::atomic<std::uint64_t> requests{0};
  std::array<std::atomic<std::uint64_t>, errc_count> errors{};
  std::unique_ptr<PolicyCounts[]> per_policy;  // by PolicyIds id
  std::array<std::atomic<std::uint64_t>, latency_bounds_ns.size() + 1> latency_buckets{};
  std::atomic<std::uint64_t> latency_sum_ns{0};

  void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount = 1) {
    if (shared) {
      counter.fetch_add(amount, std::memory_order_relaxed);
    } else {
      counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    }
  }

  void record_latency(std::uint64_t ns) {
    std::size_t bucket = 0;
    while (bucket < latency_bounds_ns.size() && ns > latency_bounds_ns[bucket]) ++bucket;
    add(latency_buckets[bucket]);
    add(latency_sum_ns, ns);
  }
};

}  // namespace drl::daemon

namespace drl::core {
struct CheckOutcome;
class PolicySet;
}  // namespace drl::core

namespace drl::daemon {

// The ids of the policies of `policies`, by index.
std::vector<std::uint32_t> policy_ids_of(const core::PolicySet& policies, PolicyIds& ids);

// Counts a check (decided or failed) in `counters`, under the binding limit's policy.
void record_check(ServiceCounters& counters, const core::CheckOutcome& outcome,
                  const core::PolicySet& policies, const std::vector<std::uint32_t>& ids);

}  // namespace drl::daemon
