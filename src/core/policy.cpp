#include "core/policy.hpp"

#include <algorithm>
#include <new>

namespace drl::core {

PolicySet::PolicySet(std::vector<Policy> policies) : policies_(std::move(policies)) {
  by_name_.reserve(policies_.size());
  for (std::size_t i = 0; i < policies_.size(); ++i) by_name_.emplace(policies_[i].name, i);
}

const Policy* PolicySet::find(std::string_view name) const {
  const auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &policies_[it->second];
}

std::string PolicySet::unknown_policy_message(std::string_view asked) const {
  constexpr std::size_t names_shown_max = 8;
  constexpr std::size_t name_chars_shown_max = 80;  // of the name asked, and of each shown
  std::string out = "unknown policy '" + std::string(asked.substr(0, name_chars_shown_max)) +
                    (asked.size() > name_chars_shown_max ? "...'" : "'");
  if (policies_.empty()) return out + " (no policies are configured)";
  out += " (policies: ";
  for (std::size_t i = 0; i < policies_.size() && i < names_shown_max; ++i) {
    if (i > 0) out += ", ";
    out += policies_[i].name.substr(0, name_chars_shown_max);
  }
  if (policies_.size() > names_shown_max) {
    out += " and " + std::to_string(policies_.size() - names_shown_max) + " more";
  }
  return out + ")";
}

namespace {

const LimitSet& pick_tier(const LimitSet& defaults, const StringMap<LimitSet>& tiers,
                          std::string_view tier) {
  if (tier.empty()) return defaults;
  const auto it = tiers.find(tier);
  return it == tiers.end() ? defaults : it->second;
}

}  // namespace

void index_prefix_endpoints(Policy& policy) {
  policy.prefix_endpoints.clear();
  for (const auto& [name, limits] : policy.endpoints) {
    if (name.size() > 1 && name.back() == '*') policy.prefix_endpoints.push_back(&limits);
  }
  std::sort(policy.prefix_endpoints.begin(), policy.prefix_endpoints.end(),
            [](const EndpointLimits* a, const EndpointLimits* b) {
              return a->name.size() != b->name.size() ? a->name.size() > b->name.size()
                                                      : a->name < b->name;
            });
}

const EndpointLimits* find_endpoint(const Policy& policy, std::string_view endpoint) {
  if (const auto it = policy.endpoints.find(endpoint); it != policy.endpoints.end()) {
    return &it->second;
  }
  for (const EndpointLimits* prefix : policy.prefix_endpoints) {
    const std::string_view stem = std::string_view(prefix->name).substr(0, prefix->name.size() - 1);
    if (endpoint.substr(0, stem.size()) == stem) return prefix;
  }
  return nullptr;
}

Resolution resolve(const Policy& policy, std::string_view tier, std::string_view endpoint,
                   ResolvedLimit* out) {
  Resolution result;
  for (const LimitRule& rule : pick_tier(policy.defaults, policy.tiers, tier).rules) {
    new (&out[result.count++]) ResolvedLimit{&policy, &rule, {}};
  }
  if (!endpoint.empty()) {
    if (const EndpointLimits* scoped = find_endpoint(policy, endpoint)) {
      for (const LimitRule& rule : pick_tier(scoped->defaults, scoped->tiers, tier).rules) {
        new (&out[result.count++]) ResolvedLimit{&policy, &rule, scoped->name};
      }
    }
  }
  result.tier_unknown = !tier.empty() && !policy.tier_names.contains(tier);
  return result;
}

}  // namespace drl::core

namespace drl::core {

const KeyOverride* find_key_override(const KeyControl& control, std::string_view tier,
                                     std::string_view endpoint, std::uint64_t window_ms) {
  for (const KeyOverride& o : control.overrides) {
    if ((o.tier.empty() || o.tier == tier) && (o.endpoint.empty() || o.endpoint == endpoint) &&
        (o.window_ms == 0 || o.window_ms == window_ms)) {
      return &o;
    }
  }
  return nullptr;
}

void forget_reset_counts(const KeyControl& control, std::uint64_t counter_id,
                         std::uint64_t window_ms, std::uint64_t window_id, WindowCounts& counts) {
  // Marks hold totals, not increments: of several resets of a window, the largest forgets all
  // that the others do.
  std::uint64_t current = 0;
  std::uint64_t previous = 0;
  for (const ResetMark& mark : control.resets) {
    if (mark.counter_id != counter_id || mark.window_ms != window_ms) continue;
    if (mark.window_id == window_id) {
      current = std::max(current, mark.current);
      previous = std::max(previous, mark.previous);
    } else if (mark.window_id + 1 == window_id) {
      previous = std::max(previous, mark.current);
    }
  }
  counts.current -= std::min(counts.current, current);
  counts.previous -= std::min(counts.previous, previous);
}

}  // namespace drl::core
