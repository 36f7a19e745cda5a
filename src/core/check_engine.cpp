#include "core/check_engine.hpp"

#include <algorithm>
#include <limits>
#include <type_traits>

#include "core/counter_id.hpp"
#include "core/duration.hpp"

namespace drl::core {
namespace {

// Room for the limits one item resolves to, without constructing them first.
class ResolvedSlots {
 public:
  ResolvedLimit* data() { return reinterpret_cast<ResolvedLimit*>(storage_); }
  const ResolvedLimit& operator[](std::size_t i) const {
    return reinterpret_cast<const ResolvedLimit*>(storage_)[i];
  }

 private:
  static_assert(std::is_trivially_destructible_v<ResolvedLimit>);
  alignas(
      ResolvedLimit) unsigned char storage_[sizeof(ResolvedLimit) * bounds::limits_per_item_max];
};

void fail_check(CheckOutcome& out, Errc code, std::string message) {
  out.error = code;
  out.error_message = std::move(message);
  out.allowed = false;
  out.limit_count = 0;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  out.append(text.substr(0, 80));
  if (text.size() > 80) out.append("...");
  out.push_back('\'');
  return out;
}

// Among the limits for which `eligible` holds: the one a caller should be shown.
// Denied: the longest wait. Allowed: the least remaining, then the longest reset.
template <class Eligible>
std::size_t pick_binding(const CheckOutcome& out, bool denied, Eligible eligible) {
  std::size_t best = out.limit_count;
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    if (!eligible(out.limits[i])) continue;
    if (best == out.limit_count) {
      best = i;
      continue;
    }
    const LimitVerdict& a = out.limits[i].verdict;
    const LimitVerdict& b = out.limits[best].verdict;
    const bool better = denied
                            ? a.retry_after_ms > b.retry_after_ms
                            : (a.remaining < b.remaining ||
                               (a.remaining == b.remaining && a.reset_after_ms > b.reset_after_ms));
    if (better) best = i;
  }
  return best;
}

// `raw` (the store's view of `limit`'s counter) as a check sees it: what key resets forgot
// left out.
CounterView without_resets(const LimitOutcome& limit, CounterView raw) {
  if (limit.key_control != nullptr && !limit.key_control->resets.empty()) {
    forget_reset_counts(*limit.key_control, limit.counter_id, limit.rule->window_ms, raw.window_id,
                        raw.counts);
  }
  return raw;
}

CounterView counts_of(const LimitOutcome& limit, const CounterStore::Locked& locked, WallTime now) {
  return without_resets(limit, locked.view(limit.counter_id, limit.rule->window_ms, now));
}

// A hard limit: admitted only within this node's rights for the window it counts in (its share,
// plus what peers granted it, less what it granted), whatever the other nodes' counts say. Key
// resets give no rights back: what was admitted stays admitted. A check that finds the rights
// short, or about to be, asks for more: the next replication round sends the request. On every
// check of a hard limit: the split is read field by field, no key is built unless rights moved.
LimitVerdict hard_verdict_of(LimitOutcome& limit, const CounterStore::Locked& locked, WallTime now,
                             std::uint64_t cost, RightsLedger& ledger, std::uint32_t origin) {
  const std::uint64_t window_ms = limit.rule->window_ms;
  const CounterView seen =
      locked.view_with_own(limit.counter_id, window_ms, now, origin, limit.own_count);
  limit.window_id = seen.window_id;
  const std::int64_t rights_from_unix_ms = ledger.rights_from_unix_ms();
  // A window has a share if it begins at or after rights_from (a product, not a division).
  const bool has_share =
      static_cast<std::int64_t>(seen.window_id * window_ms) >= rights_from_unix_ms;
  const std::uint64_t share = share_of(ledger.members(), ledger.rank(), limit.limit);
  const std::int64_t moved =
      ledger.any_moved() ? ledger.net(RightsKey{limit.counter_id, window_ms, seen.window_id}) : 0;
  limit.rights = static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, static_cast<std::int64_t>(has_share ? share : 0) + moved));
  const std::uint64_t left = limit.rights - std::min(limit.own_count, limit.rights);
  // Short, or left with less than half a share after this check (2 * after < share, in
  // integers the same as after < ceil(share / 2); at least one right wanted).
  if (ledger.members() > 1 &&
      (cost > left || 2 * (left - cost) < std::max<std::uint64_t>(1, share))) {
    limit.rights_coming = ledger.want(RightsKey{limit.counter_id, window_ms, seen.window_id},
                                      limit.limit, std::max<std::uint64_t>({cost, share, 1}));
  }
  // New rights come with the next window, or after a start with the first window that has a
  // share (unless a peer grants some sooner). While the members have not agreed, that window is
  // not known yet: the next one is said.
  std::uint64_t until_next = window_ms - seen.elapsed_ms + seen.lead_ms;
  if (!has_share && rights_from_unix_ms != std::numeric_limits<std::int64_t>::max()) {
    const std::uint64_t first = first_window_with_rights(rights_from_unix_ms, window_ms);
    if (seen.window_id + 1 < first) until_next += (first - seen.window_id - 1) * window_ms;
  }
  if (cost > left) {
    limit.short_of_rights = seen.counts.current + cost <= limit.limit;
    return LimitVerdict{false, left, until_next, until_next};
  }
  return LimitVerdict{true, left - cost, until_next, 0};
}

LimitVerdict verdict_of(LimitOutcome& limit, const CounterStore::Locked& locked, WallTime now,
                        std::uint64_t cost, RightsLedger& ledger, std::uint32_t origin) {
  if (limit.blocked_until_wall_ms != 0) {
    // Blocked by an operator: nothing is admitted until the block ends, and that is the wait.
    const auto wait_ms = static_cast<std::uint64_t>(
        std::max<std::int64_t>(1, limit.blocked_until_wall_ms - now.unix_ms));
    return LimitVerdict{false, 0, wait_ms, wait_ms};
  }
  if (limit.policy->enforcement == Enforcement::hard) {
    return hard_verdict_of(limit, locked, now, cost, ledger, origin);
  }
  const CounterView seen = counts_of(limit, locked, now);
  LimitVerdict verdict =
      decide(LimitInput{limit.rule->algorithm, limit.limit, limit.rule->window_ms, seen.counts,
                        seen.elapsed_ms, seen.lead_ms, cost});
  if (!verdict.allowed && cost > limit.limit && limit.override_until_wall_ms > now.unix_ms) {
    // Above the override's limit, within the configured one: no window admits it before the
    // override ends, so the wait is at least that (an honest retry_after).
    verdict.retry_after_ms =
        std::max(verdict.retry_after_ms,
                 static_cast<std::uint64_t>(limit.override_until_wall_ms - now.unix_ms));
  }
  return verdict;
}

}  // namespace

void CheckEngine::check(const PolicySet& policies, WallTime now, std::span<const CheckItem> items,
                        CheckOutcome& out, bool may_wait_for_totals) const {
  out.error = Errc::ok;
  out.error_message.clear();
  out.allowed = false;
  out.shadow_denied = false;
  out.tier_unknown = false;
  out.denied_without_rights = false;
  out.rights_wait_ms = 0;
  out.totals_wait_ms = 0;
  out.staleness_ms = 0;
  out.binding = 0;
  out.limit_count = 0;

  if (items.empty()) return fail_check(out, Errc::malformed_request, "a check needs an item");
  if (items.size() > bounds::items_per_check_max) {
    return fail_check(
        out, Errc::too_many_items,
        "a check has at most " + std::to_string(bounds::items_per_check_max) + " items");
  }

  // Resolve every item to counters; counters shared by several items add their costs.
  // Scratch space, written before it is read: left uninitialised (zeroing it was a third of
  // the cost of a check).
  std::uint64_t ids[bounds::limits_per_check_max];
  ResolvedSlots resolved;
  for (const CheckItem& item : items) {
    const Policy* policy = policies.find(item.policy);
    if (policy == nullptr) {
      return fail_check(out, Errc::unknown_policy, policies.unknown_policy_message(item.policy));
    }
    if (item.key.empty()) return fail_check(out, Errc::empty_key, "the key is empty");
    if (item.key.size() > bounds::key_bytes_max) {
      return fail_check(out, Errc::key_too_long,
                        "the key has " + std::to_string(item.key.size()) + " bytes; at most " +
                            std::to_string(bounds::key_bytes_max) + " are allowed");
    }
    if (item.limit_override > bounds::limit_max) {
      return fail_check(out, Errc::invalid_argument,
                        "a limit override is at most " + std::to_string(bounds::limit_max));
    }
    const Resolution resolution = resolve(*policy, item.tier, item.endpoint, resolved.data());
    out.tier_unknown = out.tier_unknown || resolution.tier_unknown;
    const KeyControl* control = nullptr;
    if (!policy->keys.empty()) {  // a hash lookup only in policies with key overrides or resets
      const auto found = policy->keys.find(item.key);
      if (found != policy->keys.end()) control = &found->second;
    }
    for (std::size_t r = 0; r < resolution.count; ++r) {
      const ResolvedLimit& limit = resolved[r];
      const std::uint64_t id = counter_id(limit.rule->counter_seed, item.key);
      const bool overridden = item.limit_override != 0;
      std::uint64_t in_force = overridden ? item.limit_override : limit.rule->limit;
      std::uint64_t configured = overridden ? item.limit_override : limit.rule->configured_limit;
      std::uint32_t adjustment = limit.rule->adjustment;
      std::int64_t blocked_until_wall_ms = 0;
      std::int64_t override_until_wall_ms = overridden ? 0 : limit.rule->override_until_wall_ms;
      // An operator's override of this key wins over the rule's limit and a request's own.
      if (const KeyOverride* key =
              control == nullptr
                  ? nullptr
                  : find_key_override(*control, item.tier, limit.scope, limit.rule->window_ms)) {
        adjustment = key->adjustment;
        override_until_wall_ms = key->expires_wall_ms;
        switch (key->kind) {
          case OverrideKind::limit:
            in_force = key->value;
            configured = std::max(configured, key->value);
            break;
          case OverrideKind::factor:
            in_force =
                std::clamp<std::uint64_t>(in_force * key->value / 1000, 1, bounds::limit_max);
            break;
          default:  // block
            in_force = 0;
            blocked_until_wall_ms = key->expires_wall_ms;
            break;
        }
      }
      std::size_t slot = 0;
      while (slot < out.limit_count && out.limits[slot].counter_id != id) ++slot;
      if (slot == out.limit_count) {
        if (out.limit_count == bounds::limits_per_check_max) {
          return fail_check(out, Errc::too_many_items,
                            "the items of this check name more than " +
                                std::to_string(bounds::limits_per_check_max) + " limits");
        }
        LimitOutcome& fresh = out.limits[slot];  // in place: no temporary to copy
        fresh.policy = limit.policy;
        fresh.rule = limit.rule;
        fresh.scope = limit.scope;
        fresh.limit = in_force;
        fresh.configured_limit = configured;
        fresh.counter_id = id;
        fresh.adjustment = adjustment;
        fresh.blocked_until_wall_ms = blocked_until_wall_ms;
        fresh.override_until_wall_ms = override_until_wall_ms;
        fresh.key_control = control;
        fresh.cost = 0;
        fresh.admits = false;
        ids[slot] = id;
        ++out.limit_count;
      } else if (in_force < out.limits[slot].limit) {
        out.limits[slot].rule = limit.rule;  // the same counter: keep the stricter limit
        out.limits[slot].limit = in_force;
        out.limits[slot].configured_limit = configured;
        out.limits[slot].adjustment = adjustment;
        out.limits[slot].blocked_until_wall_ms = blocked_until_wall_ms;
        out.limits[slot].override_until_wall_ms = override_until_wall_ms;
      }
      out.limits[slot].cost += item.cost;
    }
  }
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    const LimitOutcome& limit = out.limits[i];
    // Against the configured limit: an override or a load factor may lower the limit below a
    // cost for a while (the check is then denied); only a cost above what the configuration
    // allows can never be admitted.
    if (limit.cost > limit.configured_limit) {
      std::string where = "policy " + quoted(limit.policy->name);
      if (!limit.scope.empty()) where += " endpoint " + quoted(limit.scope);
      return fail_check(out, Errc::cost_above_limit,
                        "cost " + std::to_string(limit.cost) + " is above the limit " +
                            std::to_string(limit.configured_limit) + " per " +
                            format_duration_ms(limit.rule->window_ms) + " of " + where +
                            ": it can never be admitted");
    }
  }

  // Under a partition with the proportional policy, each side gets its share of every limit
  // (rounded down, at least 1), so that the sides together stay near one limit.
  if (signals_ != nullptr) {
    out.staleness_ms = signals_->staleness_ms.load(std::memory_order_relaxed);
    const std::uint32_t permille = signals_->reachable_permille.load(std::memory_order_relaxed);
    if (permille < 1000 && signals_->proportional.load(std::memory_order_relaxed)) {
      for (std::size_t i = 0; i < out.limit_count; ++i) {
        LimitOutcome& limit = out.limits[i];
        if (limit.blocked_until_wall_ms != 0) continue;  // stays blocked
        // A hard limit's rights already keep the sides together within the limit.
        if (limit.policy->enforcement == Enforcement::hard) continue;
        limit.limit = std::max<std::uint64_t>(1, limit.limit * permille / 1000);
      }
    }
  }

  auto locked = store_.lock(std::span<const std::uint64_t>(ids, out.limit_count));

  // Through key owners, a key this node has not heard of from them: ask, and wait for the
  // answer rather than decide blind. Not for a hard limit (its rights keep it within the limit)
  // nor a cost of 0 (it counts nothing).
  if (may_wait_for_totals && totals_ != nullptr) [[unlikely]] {
    if (ask_for_totals(locked, now, out)) return;
  }

  bool enforced_ok = true;
  bool shadow_ok = true;
  bool any_enforced = false;
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    LimitOutcome& limit = out.limits[i];
    limit.rights = limit.own_count = limit.window_id = 0;
    limit.short_of_rights = limit.rights_coming = false;
    limit.verdict = verdict_of(limit, locked, now, limit.cost, *rights_, local_origin_);
    limit.admits = limit.verdict.allowed;
    if (limit.policy->shadow) {
      shadow_ok = shadow_ok && limit.admits;
    } else {
      any_enforced = true;
      enforced_ok = enforced_ok && limit.admits;
    }
  }

  // Enforced limits count the request when it goes through. Shadow limits count it only if
  // they would have let it through themselves, so that their reports match enforcement.
  out.allowed = enforced_ok;
  out.shadow_denied = enforced_ok && !shadow_ok;
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    LimitOutcome& limit = out.limits[i];
    const bool counted = enforced_ok && (limit.policy->shadow ? shadow_ok : true);
    if (counted) {
      if (limit.cost > 0) {
        // A hard limit's count is what its rights are measured against: evicted last, like a
        // denied key's, so that a flood of new keys cannot make this node forget it.
        locked.add(limit.counter_id, limit.rule->window_ms, now, local_origin_,
                   static_cast<std::uint32_t>(limit.cost),
                   limit.policy->enforcement == Enforcement::hard);
      }
      continue;
    }
    if (!limit.admits) locked.mark_denied(limit.counter_id);
    if (limit.admits && limit.cost > 0) {
      // It would have admitted, but the check was not counted: report it without the cost.
      limit.verdict = verdict_of(limit, locked, now, 0, *rights_, local_origin_);
    }
  }

  const bool denied = !out.allowed;
  if (denied) {
    out.binding = pick_binding(
        out, true, [](const LimitOutcome& l) { return !l.policy->shadow && !l.admits; });
  } else {
    out.binding = pick_binding(out, false, [any_enforced](const LimitOutcome& l) {
      return !any_enforced || !l.policy->shadow;
    });
  }
  if (out.binding == out.limit_count) out.binding = 0;
  out.denied_without_rights = denied && out.limits[out.binding].short_of_rights;
  out.rights_wait_ms = out.denied_without_rights && out.limits[out.binding].rights_coming
                           ? out.limits[out.binding].policy->rights_wait_max_ms
                           : 0;
}

bool CheckEngine::ask_for_totals(const CounterStore::Locked& locked, WallTime now,
                                 CheckOutcome& out) const {
  const std::uint64_t wait_ms = totals_->wait_ms();
  if (wait_ms == 0) return false;
  // A check with a hard limit may wait for a grant instead, on its own deadline: one wait of one
  // kind per check, so it is decided without the totals of its other limits.
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    if (out.limits[i].policy->enforcement == Enforcement::hard) return false;
  }
  bool asked = false;
  for (std::size_t i = 0; i < out.limit_count; ++i) {
    const LimitOutcome& limit = out.limits[i];
    // Nothing to learn for a cost of 0 (it counts nothing), a shadow limit (it never decides)
    // or a blocked key (denied whatever the counts).
    if (limit.cost == 0 || limit.policy->shadow || limit.blocked_until_wall_ms != 0) continue;
    if (locked.heard_from_owners(limit.counter_id, limit.rule->window_ms, now)) continue;
    asked = totals_->want(limit.counter_id, limit.rule->window_ms, now) || asked;
  }
  if (asked) out.totals_wait_ms = wait_ms;
  return asked;
}

template <class Visit>
Errc CheckEngine::peek_locked(const PolicySet& policies, WallTime now, const CheckItem& peek,
                              std::string& error_message, Visit visit) const {
  CheckOutcome outcome;
  check(policies, now, std::span<const CheckItem>(&peek, 1), outcome);
  if (outcome.error != Errc::ok) {
    error_message = outcome.error_message;
    return outcome.error;
  }
  std::array<std::uint64_t, bounds::limits_per_check_max> ids{};
  for (std::size_t i = 0; i < outcome.limit_count; ++i) ids[i] = outcome.limits[i].counter_id;
  auto locked = store_.lock(std::span<const std::uint64_t>(ids.data(), outcome.limit_count));
  for (std::size_t i = 0; i < outcome.limit_count; ++i) visit(outcome.limits[i], locked);
  return Errc::ok;
}

Errc CheckEngine::inspect(const PolicySet& policies, WallTime now, const CheckItem& item,
                          std::vector<InspectedCounter>& out, std::string& error_message) const {
  out.clear();
  CheckItem peek = item;
  peek.cost = 0;
  return peek_locked(
      policies, now, peek, error_message,
      [&](const LimitOutcome& limit, const CounterStore::Locked& locked) {
        InspectedCounter counter;
        counter.limit = limit;
        const CounterView raw = locked.view(limit.counter_id, limit.rule->window_ms, now);
        counter.view = without_resets(limit, raw);
        counter.forgotten = WindowCounts{raw.counts.previous - counter.view.counts.previous,
                                         raw.counts.current - counter.view.counts.current};
        counter.window_id = static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0)) /
                            limit.rule->window_ms;
        counter.origins = locked.origins(limit.counter_id, limit.rule->window_ms, now);
        out.push_back(std::move(counter));
      });
}

std::string adjustment_text(const LimitOutcome& limit, const PolicySet& policies) {
  std::string text(policies.adjustment_note(limit.adjustment));
  const std::uint32_t under = limit.rule->adjustment;
  if (under != 0 && under != limit.adjustment) {
    text += "; the policy's: ";
    text += policies.adjustment_note(under);
  }
  return text;
}

Errc CheckEngine::reset_targets(const PolicySet& policies, WallTime now, const CheckItem& item,
                                std::vector<ResetTarget>& out, std::string& error_message) const {
  out.clear();
  const Policy* policy = policies.find(item.policy);
  if (policy != nullptr && !item.tier.empty() && !policy->tier_names.contains(item.tier)) {
    error_message = "policy '" + policy->name + "' has no tier '" + std::string(item.tier) + "'";
    return Errc::invalid_argument;
  }
  if (policy != nullptr && !item.endpoint.empty() &&
      find_endpoint(*policy, item.endpoint) == nullptr) {
    error_message = "policy '" + policy->name + "' has no endpoint '" + std::string(item.endpoint) +
                    "' (nor a prefix endpoint that matches it)";
    return Errc::invalid_argument;
  }
  const auto add = [&](const LimitOutcome& limit, const CounterStore::Locked& locked, bool named) {
    const bool known = std::any_of(out.begin(), out.end(), [&](const ResetTarget& target) {
      return target.mark.counter_id == limit.counter_id &&
             target.mark.window_ms == limit.rule->window_ms;
    });
    if (known) return;
    // Raw totals: a mark forgets everything up to them, earlier resets included.
    const CounterView seen = locked.view(limit.counter_id, limit.rule->window_ms, now);
    // The counters `item` names exactly are listed even when empty (the answer shows them); the
    // others of the key only if it counted there.
    if (!named && seen.counts.current == 0 && seen.counts.previous == 0) return;
    out.push_back(ResetTarget{ResetMark{limit.counter_id, limit.rule->window_ms, seen.window_id,
                                        seen.counts.current, seen.counts.previous},
                              std::string(limit.scope), limit.limit,
                              without_resets(limit, seen).counts.current});
  };
  CheckItem peek = item;
  peek.cost = 0;
  peek.limit_override = 0;
  Errc code = peek_locked(policies, now, peek, error_message,
                          [&](const LimitOutcome& limit, const CounterStore::Locked& locked) {
                            add(limit, locked, true);
                          });
  if (code != Errc::ok || (!item.tier.empty() && !item.endpoint.empty())) return code;
  // Every tier and endpoint the item leaves open: tiers change limits, and some windows, of
  // the same counters; endpoints have counters of their own.
  std::vector<std::string_view> tiers{item.tier};
  if (item.tier.empty()) {
    for (const auto& [tier, unused] : policy->tier_names) tiers.push_back(tier);
  }
  std::vector<std::string_view> endpoints{item.endpoint};
  if (item.endpoint.empty()) {
    for (const auto& [endpoint, unused] : policy->endpoints) endpoints.push_back(endpoint);
    std::sort(endpoints.begin() + 1, endpoints.end());  // an answer in a stable order
  }
  for (const std::string_view tier : tiers) {
    for (const std::string_view endpoint : endpoints) {
      peek.tier = tier;
      peek.endpoint = endpoint;
      code = peek_locked(policies, now, peek, error_message,
                         [&](const LimitOutcome& limit, const CounterStore::Locked& locked) {
                           add(limit, locked, false);
                         });
      if (code != Errc::ok) return code;
    }
  }
  return Errc::ok;
}

}  // namespace drl::core
