#include "core/limit_adjuster.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>

#include "core/duration.hpp"

namespace drl::core {
namespace {

// Tier-specific overrides need a limit set of their own where the policy (or an endpoint) lets
// that tier fall back to its defaults: a copy of the defaults, with the same counters.
void materialize_tier(Policy& policy, const std::string& tier) {
  if (!policy.tiers.contains(tier)) policy.tiers.emplace(tier, policy.defaults);
  for (auto& [name, endpoint] : policy.endpoints) {
    if (!endpoint.tiers.contains(tier)) endpoint.tiers.emplace(tier, endpoint.defaults);
  }
}

// Calls fn(tier, endpoint, rule) for every rule of `policy`; tier "" for a set of defaults,
// endpoint "" for the policy-wide sets.
template <class Fn>
void for_each_rule(Policy& policy, Fn fn) {
  for (LimitRule& rule : policy.defaults.rules) fn(std::string_view(), std::string_view(), rule);
  for (auto& [tier, set] : policy.tiers) {
    for (LimitRule& rule : set.rules) fn(std::string_view(tier), std::string_view(), rule);
  }
  for (auto& [name, endpoint] : policy.endpoints) {
    for (LimitRule& rule : endpoint.defaults.rules) {
      fn(std::string_view(), std::string_view(name), rule);
    }
    for (auto& [tier, set] : endpoint.tiers) {
      for (LimitRule& rule : set.rules) fn(std::string_view(tier), std::string_view(name), rule);
    }
  }
}

bool matches(const OverrideScope& scope, std::string_view tier, std::string_view endpoint,
             const LimitRule& rule) {
  return (scope.tier.empty() || scope.tier == tier) &&
         (scope.endpoint.empty() || scope.endpoint == endpoint) &&
         (scope.window_ms == 0 || scope.window_ms == rule.window_ms);
}

int specificity(const OverrideScope& scope) {
  return (scope.endpoint.empty() ? 0 : 4) + (scope.tier.empty() ? 0 : 2) +
         (scope.window_ms == 0 ? 0 : 1);
}

std::string override_note(const OverrideRecord& r) {
  std::string note = (r.scope.key.empty() ? "override " : "key override ") +
                     describe_value(r.kind, r.value) + " until " + format_utc(r.expires_wall_ms) +
                     " by " + r.stamp.node_id;
  if (!r.reason.empty()) note += ": " + r.reason;
  return note;
}

std::string factor_note(const AdaptiveFactor& f) {
  char text[160];
  std::snprintf(text, sizeof text, "adaptive factor %.3g (%s %.4g)",
                static_cast<double>(f.factor_permille) / 1000.0, f.signal.c_str(), f.signal_value);
  return text;
}

std::uint64_t scaled(std::uint64_t limit, std::uint64_t permille) {
  const std::uint64_t value = limit * permille / 1000;  // limit < 2^32, permille < 2^17
  return std::clamp<std::uint64_t>(value, 1, bounds::limit_max);
}

// The key-scoped records of `active` for `policy`, into policy.keys: overrides most specific
// first (then newest first), so that a check takes the first that matches; resets' marks.
template <class NoteNumber>
void add_key_controls(Policy& policy, const std::vector<OverrideRecord>& active,
                      std::vector<bool>& used, NoteNumber& note_number) {
  std::vector<std::size_t> overrides;
  for (std::size_t i = 0; i < active.size(); ++i) {
    const OverrideRecord& r = active[i];
    if (r.scope.policy != policy.name || r.scope.key.empty()) continue;
    used[i] = true;
    if (r.kind == OverrideKind::reset) {
      auto& resets = policy.keys[r.scope.key].resets;
      resets.insert(resets.end(), r.marks.begin(), r.marks.end());
    } else {
      overrides.push_back(i);
    }
  }
  std::stable_sort(overrides.begin(), overrides.end(), [&](std::size_t a, std::size_t b) {
    const int sa = specificity(active[a].scope);
    const int sb = specificity(active[b].scope);
    return sa != sb ? sa > sb : active[b].stamp < active[a].stamp;
  });
  for (const std::size_t i : overrides) {
    const OverrideRecord& r = active[i];
    policy.keys[r.scope.key].overrides.push_back(
        KeyOverride{r.scope.tier, r.scope.endpoint, r.scope.window_ms, r.kind, r.value,
                    r.expires_wall_ms, note_number(override_note(r))});
  }
}

}  // namespace

std::shared_ptr<const PolicySet> adjust_policies(const PolicySet& configured,
                                                 const std::vector<OverrideRecord>& active,
                                                 const std::vector<AdaptiveFactor>& factors,
                                                 AdjustmentSummary* summary) {
  auto adjusted = std::make_shared<PolicySet>(configured);
  AdjustmentSummary local;
  AdjustmentSummary& out = summary != nullptr ? *summary : local;
  out = AdjustmentSummary{};
  std::vector<bool> used(active.size(), false);
  std::map<std::string, std::uint32_t> notes;  // note text -> adjustment number
  const auto note_number = [&](std::string text) {
    const auto [it, fresh] = notes.emplace(text, 0);
    if (fresh) it->second = adjusted->add_adjustment_note(std::move(text));
    return it->second;
  };

  for (Policy& policy : adjusted->mutable_policies()) {
    index_prefix_endpoints(policy);  // the copy's pointers still point into `configured`
    const AdaptiveFactor* factor = nullptr;
    for (const AdaptiveFactor& f : factors) {
      if (f.policy == policy.name && f.factor_permille != 1000) factor = &f;
    }
    add_key_controls(policy, active, used, note_number);
    bool any_override = false;
    for (const OverrideRecord& r : active) {
      if (r.scope.policy != policy.name || !r.scope.key.empty()) continue;
      any_override = true;
      if (!r.scope.tier.empty() && policy.tier_names.contains(r.scope.tier)) {
        materialize_tier(policy, r.scope.tier);
      }
    }
    if (!any_override && factor == nullptr) continue;
    if (any_override) index_prefix_endpoints(policy);

    for_each_rule(policy, [&](std::string_view tier, std::string_view endpoint, LimitRule& rule) {
      const OverrideRecord* best = nullptr;
      std::size_t best_index = 0;
      for (std::size_t i = 0; i < active.size(); ++i) {
        const OverrideRecord& r = active[i];
        if (r.scope.policy != policy.name || !r.scope.key.empty() ||
            !matches(r.scope, tier, endpoint, rule)) {
          continue;
        }
        if (best == nullptr || specificity(r.scope) > specificity(best->scope) ||
            (specificity(r.scope) == specificity(best->scope) && best->stamp < r.stamp)) {
          best = &r;
          best_index = i;
        }
      }
      std::uint64_t limit = rule.configured_limit;
      std::string note;
      if (best != nullptr) {
        used[best_index] = true;
        limit = best->kind == OverrideKind::limit ? best->value : scaled(limit, best->value);
        note = override_note(*best);
      }
      if (factor != nullptr) {
        limit = scaled(limit, factor->factor_permille);
        note += note.empty() ? factor_note(*factor) : "; " + factor_note(*factor);
      }
      if (note.empty()) return;
      rule.limit = limit;
      rule.override_until_wall_ms = best != nullptr ? best->expires_wall_ms : 0;
      rule.adjustment = note_number(std::move(note));
      ++out.limits_adjusted;
    });
  }
  for (std::size_t i = 0; i < active.size(); ++i) {
    if (used[i]) {
      ++out.overrides_applied;
    } else {
      out.unmatched.push_back(describe_scope(active[i].scope));
    }
  }
  return adjusted;
}

std::string validate_override(const PolicySet& policies, const OverrideScope& scope,
                              OverrideKind kind) {
  const Policy* found = policies.find(scope.policy);
  if (found == nullptr) return policies.unknown_policy_message(scope.policy);
  if (!scope.tier.empty() && !found->tier_names.contains(scope.tier)) {
    return "policy '" + scope.policy + "' has no tier '" + scope.tier + "'";
  }
  if (!scope.endpoint.empty() && !found->endpoints.contains(scope.endpoint)) {
    return "policy '" + scope.policy + "' has no endpoint '" + scope.endpoint +
           "' (name it as the configuration does)";
  }
  Policy policy = *found;
  if (!scope.tier.empty()) materialize_tier(policy, scope.tier);
  std::vector<std::uint64_t> windows;
  for_each_rule(policy, [&](std::string_view tier, std::string_view endpoint, LimitRule& rule) {
    // A tier-less scope also reaches the tier sets: their windows count too.
    if (!matches(scope, tier, endpoint, rule)) return;
    if (std::find(windows.begin(), windows.end(), rule.window_ms) == windows.end()) {
      windows.push_back(rule.window_ms);
    }
  });
  if (windows.empty()) {
    OverrideScope without_window = scope;
    without_window.window_ms = 0;
    return describe_scope(without_window) + " has no limit with the window " +
           format_duration_ms(scope.window_ms);
  }
  if (kind == OverrideKind::limit && windows.size() > 1) {
    return describe_scope(scope) + " has limits with " + std::to_string(windows.size()) +
           " different windows: name one (--window), or scale them all (--factor)";
  }
  return {};
}

}  // namespace drl::core
