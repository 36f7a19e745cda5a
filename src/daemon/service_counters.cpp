#include "daemon/service_counters.hpp"

#include "core/check_engine.hpp"

namespace drl::daemon {

std::vector<std::uint32_t> policy_ids_of(const core::PolicySet& policies, PolicyIds& ids) {
  std::vector<std::uint32_t> out;
  out.reserve(policies.policies().size());
  for (const core::Policy& policy : policies.policies()) out.push_back(ids.id_of(policy.name));
  return out;
}

void record_check(ServiceCounters& counters, const core::CheckOutcome& outcome,
                  const core::PolicySet& policies, const std::vector<std::uint32_t>& ids) {
  if (outcome.error != Errc::ok) {
    counters.add(counters.errors[static_cast<std::size_t>(outcome.error)]);
    return;
  }
  counters.add(outcome.allowed ? counters.checks_allowed : counters.checks_denied);
  if (outcome.shadow_denied) counters.add(counters.checks_shadow_denied);
  if (outcome.tier_unknown) counters.add(counters.checks_tier_unknown);
  if (outcome.denied_without_rights) counters.add(counters.checks_denied_without_rights);
  if (outcome.limit_count == 0) return;
  const core::Policy* policy = outcome.binding_limit().policy;
  const auto index = static_cast<std::size_t>(policy - policies.policies().data());
  if (index >= ids.size()) return;
  PolicyCounts& per = counters.per_policy[ids[index]];
  counters.add(!outcome.allowed        ? per.denied
               : outcome.shadow_denied ? per.shadow_denied
                                       : per.allowed);
}

}  // namespace drl::daemon
