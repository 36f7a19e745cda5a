// The policy set in force: the configured one with the active runtime overrides and the
// load-adaptive factors applied. Derived again whenever one of the three changes, and published
// to the check path like a reloaded configuration, so that checks never look overrides up.
//
// Per limit, the most specific active override whose scope matches wins (a scope with more of
// tier, endpoint and window set is more specific; among equals, the newer stamp). The limit in
// force is then the override's limit, or the configured limit times the override's factor,
// times the policy's adaptive factor; never below 1. Counters do not change: an adjusted limit
// counts on the same counters as the configured one.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/override_table.hpp"
#include "core/policy.hpp"

namespace drl::core {

struct AdaptiveFactor {
  std::string policy;
  std::uint32_t factor_permille = 1000;
  std::string signal;  // for the note: "loop_lag_ms 180"
  double signal_value = 0;
};

struct AdjustmentSummary {
  std::size_t overrides_applied = 0;   // active overrides that matched at least one limit
  std::vector<std::string> unmatched;  // active overrides that matched nothing here
  std::size_t limits_adjusted = 0;
};

// `configured` is not changed. When nothing applies, the result is a copy that behaves the
// same (the caller may keep using `configured` instead).
std::shared_ptr<const PolicySet> adjust_policies(const PolicySet& configured,
                                                 const std::vector<OverrideRecord>& active,
                                                 const std::vector<AdaptiveFactor>& factors,
                                                 AdjustmentSummary* summary = nullptr);

// Whether an operator's override can apply to `policies`: the policy, tier and endpoint exist,
// a window names one of the scope's limits, and a `limit` override matches limits of a single
// window (several windows need --window, or a factor). Returns an error message or "".
std::string validate_override(const PolicySet& policies, const OverrideScope& scope,
                              OverrideKind kind);

}  // namespace drl::core
