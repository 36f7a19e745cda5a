#include "envoy/rls_decider.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string_view>

#include "core/counter_id.hpp"
#include "wire/ratelimit_fields.hpp"

namespace drl::envoy {
namespace {

constexpr std::uint64_t uint32_max = std::numeric_limits<std::uint32_t>::max();

enum class PlanKind : std::uint8_t { no_limit, unlimited, limited };

// What one request descriptor comes to, before and after the check.
struct Plan {
  PlanKind kind = PlanKind::no_limit;
  const RlsRuleNode* node = nullptr;     // the config entry matched; null for an override
  const core::Policy* policy = nullptr;  // what counts it; null if it blocks every request
  const RlsLimitSpec* blocking = nullptr;
  std::uint64_t override_limit = 0;  // the request's RateLimitOverride (0: none, or a block)
  RlsUnit override_unit = RlsUnit::unknown;
  bool has_override = false;
  bool shadow = false;
  std::uint64_t cost = 1;
  std::string_view name;  // rate_limit.name: what `replaces` drops
  std::size_t key_begin = 0;
  std::size_t key_end = 0;
  bool never = false;  // can never be admitted: a cost above the limit (any cost, for a limit of 0)
  std::uint64_t group_cost = 0;  // summed over the descriptors of this request on its counter
};

// Per thread, reused: a request allocates nothing once its thread has seen one as large.
struct Scratch {
  std::vector<Plan> plans;
  std::string keys;
  std::vector<std::string_view> replaced;
  std::vector<core::CheckItem> items;
  core::CheckOutcome outcome;
};

Scratch& scratch() {
  thread_local Scratch instance;
  return instance;
}

std::string_view key_of(const Scratch& work, const Plan& plan) {
  return std::string_view(work.keys).substr(plan.key_begin, plan.key_end - plan.key_begin);
}

// The smallest limit a cost must fit under, on the plan's counter(s).
std::uint64_t ceiling_of(const Plan& plan) {
  if (plan.has_override) return plan.override_limit;
  std::uint64_t ceiling = bounds::limit_max;
  for (const core::LimitRule& rule : plan.policy->defaults.rules) {
    ceiling = std::min(ceiling, rule.configured_limit);
  }
  return ceiling;
}

std::uint64_t until_window_end_ms(core::WallTime now, std::uint64_t window_ms) {
  const auto elapsed =
      static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0)) % window_ms;
  return window_ms - elapsed;
}

// "key_value.key2_value2": envoyproxy/ratelimit's name of a detailed statistic, bounded.
std::string series_of(const RlsDescriptor& descriptor) {
  std::string out;
  for (const RlsEntry& entry : descriptor.entries) {
    if (!out.empty()) out.push_back('.');
    out.append(entry.key);
    if (!entry.value.empty()) out.append("_").append(entry.value);
    if (out.size() >= bounds::envoy_detailed_series_name_bytes_max) break;
  }
  if (out.size() > bounds::envoy_detailed_series_name_bytes_max) {
    out.resize(bounds::envoy_detailed_series_name_bytes_max);
  }
  return out;
}

void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount = 1) {
  counter.fetch_add(amount, std::memory_order_relaxed);
}

Error invalid(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

// The status of a descriptor a limit applies to, from the check's outcome (`peek`: the check
// only looked, cost 0, because another descriptor can never be admitted). Returns whether its
// limits admit it.
bool answer_limited(const Plan& plan, const Scratch& work, bool peek, core::WallTime now,
                    RlsDescriptorStatus& status) {
  const core::CheckOutcome& outcome = work.outcome;
  RlsRateLimit limit;
  limit.name = std::string(plan.name);
  bool admits = !plan.never;
  if (plan.policy == nullptr) {
    // A limit of 0: every request is over it; nothing to count.
    const RlsLimitSpec* spec = plan.blocking;
    limit.requests_per_unit = 0;
    limit.unit = spec != nullptr ? spec->unit : plan.override_unit;
    const std::uint64_t window_ms =
        spec != nullptr ? spec->window_ms : rls_unit_window_ms(plan.override_unit).value();
    status.limit_remaining = 0;
    status.duration_until_reset_ms = until_window_end_ms(now, window_ms);
  } else {
    // Its limits in the outcome (one per rule), and the one to report: one that denies, else
    // the one with the least remaining, then the longest reset.
    const core::LimitOutcome* shown = nullptr;
    std::size_t shown_rule = 0;
    bool shown_admits = true;
    const std::string_view key = key_of(work, plan);
    const auto& rules_of_plan = plan.policy->defaults.rules;
    for (std::size_t r = 0; r < rules_of_plan.size(); ++r) {
      const std::uint64_t id = core::counter_id(rules_of_plan[r].counter_seed, key);
      const core::LimitOutcome* found = nullptr;
      for (std::size_t l = 0; l < outcome.limit_count; ++l) {
        if (outcome.limits[l].counter_id == id) found = &outcome.limits[l];
      }
      if (found == nullptr) continue;  // a shadow descriptor that can never be admitted
      const bool this_admits =
          peek ? !plan.never && plan.group_cost <= found->verdict.remaining : found->admits;
      admits = admits && this_admits;
      const bool better = shown == nullptr || (shown_admits && !this_admits) ||
                          (shown_admits == this_admits &&
                           (found->verdict.remaining < shown->verdict.remaining ||
                            (found->verdict.remaining == shown->verdict.remaining &&
                             found->verdict.reset_after_ms > shown->verdict.reset_after_ms)));
      if (better) {
        shown = found;
        shown_rule = r;
        shown_admits = this_admits;
      }
    }
    if (shown == nullptr) {
      // Not checked (a shadow descriptor whose cost is above its limit): report the limit.
      const core::LimitRule& rule = rules_of_plan.front();
      limit.requests_per_unit = static_cast<std::uint32_t>(
          plan.has_override ? plan.override_limit : rule.configured_limit);
      limit.unit = plan.has_override ? plan.override_unit : plan.node->config->limits[0].unit;
      status.limit_remaining = 0;
      status.duration_until_reset_ms = until_window_end_ms(now, rule.window_ms);
    } else {
      const core::LimitRule& rule = *shown->rule;
      limit.requests_per_unit = static_cast<std::uint32_t>(
          plan.has_override ? plan.override_limit : rule.configured_limit);
      limit.unit =
          plan.has_override ? plan.override_unit : plan.node->config->limits[shown_rule].unit;
      status.limit_remaining =
          static_cast<std::uint32_t>(std::min(shown->verdict.remaining, uint32_max));
      status.duration_until_reset_ms = rule.algorithm == core::Algorithm::fixed
                                           ? until_window_end_ms(now, rule.window_ms)
                                           : shown->verdict.reset_after_ms;
    }
  }
  status.current_limit = std::move(limit);
  return admits;
}

// envoyproxy/ratelimit's response headers: the descriptor with a limit and the least remaining,
// or the last one over its limit.
void add_x_ratelimit_headers(const RlsDeciderOptions& options, RlsResponse& response) {
  const RlsDescriptorStatus* chosen = nullptr;
  std::uint64_t least = uint32_max;
  for (const RlsDescriptorStatus& status : response.statuses) {
    // The first limit is chosen even at 2^32 - 1 remaining (a limit that large, only looked at).
    if (status.current_limit && (chosen == nullptr || status.limit_remaining < least)) {
      chosen = &status;
      least = status.limit_remaining;
    }
    if (status.code == RlsCode::over_limit) {
      chosen = &status;
      least = 0;
    }
  }
  if (chosen != nullptr) {
    response.response_headers_to_add.emplace_back(
        options.limit_header, std::to_string(chosen->current_limit->requests_per_unit));
    response.response_headers_to_add.emplace_back(options.remaining_header,
                                                  std::to_string(chosen->limit_remaining));
    response.response_headers_to_add.emplace_back(
        options.reset_header,
        std::to_string(wire::whole_seconds_up(chosen->duration_until_reset_ms.value_or(0))));
  }
}

// The request's shape against the bounds: the gRPC layer checks them too, but the decider may be
// driven directly (tests, the fuzz harness).
std::optional<Error> check_request(const RlsRequest& request) {
  if (request.domain.empty()) {
    return invalid(Errc::malformed_request, "rate limit domain must not be empty");
  }
  if (request.domain.size() > bounds::rls_domain_bytes_max) {
    return invalid(Errc::invalid_argument,
                   "the domain has " + std::to_string(request.domain.size()) + " bytes; at most " +
                       std::to_string(bounds::rls_domain_bytes_max));
  }
  if (request.descriptors.empty()) {
    return invalid(Errc::malformed_request, "rate limit descriptor list must not be empty");
  }
  if (request.descriptors.size() > bounds::rls_descriptors_per_request_max) {
    return invalid(Errc::too_many_items,
                   std::to_string(request.descriptors.size()) + " descriptors; at most " +
                       std::to_string(bounds::rls_descriptors_per_request_max));
  }
  for (std::size_t i = 0; i < request.descriptors.size(); ++i) {
    const RlsDescriptor& descriptor = request.descriptors[i];
    if (descriptor.entries.size() > bounds::rls_entries_per_descriptor_max) {
      return invalid(Errc::too_many_items,
                     "descriptor " + std::to_string(i) + " has " +
                         std::to_string(descriptor.entries.size()) + " entries; at most " +
                         std::to_string(bounds::rls_entries_per_descriptor_max));
    }
    for (const RlsEntry& entry : descriptor.entries) {
      if (entry.key.size() > bounds::rls_entry_bytes_max ||
          entry.value.size() > bounds::rls_entry_bytes_max) {
        return invalid(Errc::invalid_argument, "descriptor " + std::to_string(i) +
                                                   ": an entry's key or value is longer than " +
                                                   std::to_string(bounds::rls_entry_bytes_max) +
                                                   " bytes");
      }
    }
  }
  return std::nullopt;
}

}  // namespace

RlsDecider::RlsDecider(const core::CheckEngine& engine, RlsDeciderOptions options)
    : engine_(engine), options_(std::move(options)) {}

void RlsDecider::set_rules(std::shared_ptr<const RlsRules> rules) {
  auto state = std::make_shared<State>();
  if (rules) {
    for (const RlsDomainConfig& domain : rules->config().domains) {
      state->counter_ids.emplace(domain.domain, counters_.domain_id(domain.domain));
    }
  }
  state->rules = std::move(rules);
  std::lock_guard<std::mutex> guard(mutex_);
  state_ = std::move(state);
}

std::shared_ptr<const RlsRules> RlsDecider::rules() const {
  const std::shared_ptr<const State> current = state();
  return current ? current->rules : nullptr;
}

std::shared_ptr<const RlsDecider::State> RlsDecider::state() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return state_;
}

Result<Done> RlsDecider::decide(core::WallTime now, const RlsRequest& request,
                                RlsResponse& response) const {
  const auto fail = [this](Error error) -> Result<Done> {
    add(counters_.request_errors);
    return error;
  };
  if (std::optional<Error> problem = check_request(request)) return fail(std::move(*problem));
  const std::shared_ptr<const State> current = state();
  if (!current || !current->rules) {
    return fail(invalid(Errc::unavailable, "no Envoy rate limit configuration is loaded"));
  }
  const RlsRules& rules = *current->rules;
  const std::size_t count = request.descriptors.size();
  response.overall_code = RlsCode::ok;
  response.statuses.assign(count, RlsDescriptorStatus{});
  response.response_headers_to_add.clear();

  const RlsDomain* domain = rules.find_domain(request.domain);
  if (domain == nullptr) {
    // As envoyproxy/ratelimit: OK, nothing counted, no limit reported.
    RlsCounts& counts = counters_.domain(RlsCounters::unknown_domain);
    add(counts.requests_ok);
    add(counts.descriptors_no_limit, count);
    return Done{};
  }
  const auto id = current->counter_ids.find(request.domain);
  RlsCounts& counts =
      counters_.domain(id == current->counter_ids.end() ? RlsCounters::other_domains : id->second);

  Scratch& work = scratch();
  work.plans.assign(count, Plan{});
  work.keys.clear();
  work.replaced.clear();
  work.items.clear();

  // What applies to each descriptor.
  for (std::size_t i = 0; i < count; ++i) {
    const RlsDescriptor& descriptor = request.descriptors[i];
    Plan& plan = work.plans[i];
    // A descriptor's own hits_addend (0 allowed: look without counting) wins over the
    // request's, whose 0 means 1.
    plan.cost = descriptor.hits_addend
                    ? *descriptor.hits_addend
                    : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(request.hits_addend));
    RlsMatch match;
    if (descriptor.limit) {
      // Envoy's per-descriptor limit wins over the config (never in shadow mode, no name).
      const Result<std::uint64_t> window = rls_unit_window_ms(descriptor.limit->unit);
      if (!window.ok()) {
        return fail(invalid(
            Errc::invalid_argument,
            "descriptor " + std::to_string(i) + ": limit override: " + window.error().message));
      }
      plan.kind = PlanKind::limited;
      plan.has_override = true;
      plan.override_limit = descriptor.limit->requests_per_unit;
      plan.override_unit = descriptor.limit->unit;
      if (plan.override_limit > 0) {
        plan.policy = domain->override_policies[static_cast<std::size_t>(plan.override_unit)];
      }
    } else {
      match = rules.match(*domain, descriptor);
      if (match.node == nullptr) continue;
      const RlsDescriptorNode& config = *match.node->config;
      for (const std::string& name : config.replaces) work.replaced.push_back(name);
      plan.node = match.node;
      if (config.unlimited) {
        plan.kind = PlanKind::unlimited;
        continue;
      }
      plan.kind = PlanKind::limited;
      plan.policy = match.node->policy;
      plan.blocking = match.node->blocking;
      plan.shadow = config.shadow_mode;
      plan.name = config.name;
    }
    plan.key_begin = work.keys.size();
    append_counter_key(descriptor, match, work.keys);
    plan.key_end = work.keys.size();
  }

  // `replaces`: a limit named by another applying limit is dropped (README example 7).
  std::size_t limited = 0;
  for (Plan& plan : work.plans) {
    if (plan.kind != PlanKind::limited) continue;
    if (!plan.name.empty() &&
        std::find(work.replaced.begin(), work.replaced.end(), plan.name) != work.replaced.end()) {
      plan.kind = PlanKind::no_limit;
      continue;
    }
    if (plan.policy != nullptr) ++limited;
  }
  if (limited > bounds::envoy_limited_descriptors_max) {
    return fail(invalid(
        Errc::too_many_items,
        std::to_string(limited) + " descriptors of this request have a limit; at most " +
            std::to_string(bounds::envoy_limited_descriptors_max) + " are decided together"));
  }

  // Descriptors on one counter add up their costs, as in any compound check; a sum above the
  // limit can never be admitted.
  bool denied_before = false;
  for (std::size_t i = 0; i < count; ++i) {
    Plan& plan = work.plans[i];
    if (plan.kind != PlanKind::limited) continue;
    if (plan.policy == nullptr) {
      // A limit of 0 admits no cost at all; a look (cost 0) is answered OK with 0 remaining, as
      // upstream answers it.
      plan.never = plan.cost > 0;
    } else {
      std::uint64_t ceiling = ceiling_of(plan);
      plan.group_cost = 0;
      for (const Plan& other : work.plans) {
        if (other.kind == PlanKind::limited && other.policy == plan.policy &&
            key_of(work, other) == key_of(work, plan)) {
          plan.group_cost += std::min(other.cost, bounds::limit_max + 1);
          ceiling = std::min(ceiling, ceiling_of(other));
        }
      }
      plan.never = plan.group_cost > ceiling;
    }
    denied_before = denied_before || (plan.never && !plan.shadow);
  }

  // One compound check. When a descriptor alone denies the request, the others are only looked
  // at (cost 0): a denied request counts nowhere.
  const bool peek = denied_before;
  for (Plan& plan : work.plans) {
    if (plan.kind != PlanKind::limited || plan.policy == nullptr) continue;
    if (plan.never && !peek) continue;  // shadow: answered below, never counted
    core::CheckItem item;
    item.policy = plan.policy->name;
    item.key = key_of(work, plan);
    item.cost = peek ? 0 : plan.cost;
    item.limit_override = plan.has_override ? plan.override_limit : 0;
    work.items.push_back(item);
  }
  core::CheckOutcome& outcome = work.outcome;
  outcome.limit_count = 0;
  if (!work.items.empty()) {
    engine_.check(rules.policies(), now, work.items, outcome);
    if (outcome.error != Errc::ok) return fail(invalid(outcome.error, outcome.error_message));
  }

  // The answers, descriptor by descriptor.
  bool over = false;
  for (std::size_t i = 0; i < count; ++i) {
    const Plan& plan = work.plans[i];
    RlsDescriptorStatus& status = response.statuses[i];
    if (plan.kind == PlanKind::no_limit) {
      add(counts.descriptors_no_limit);
      continue;
    }
    if (plan.kind == PlanKind::unlimited) {
      status.limit_remaining = static_cast<std::uint32_t>(uint32_max);  // README example 5
      add(counts.descriptors_unlimited);
      continue;
    }
    const bool admits = answer_limited(plan, work, peek, now, status);
    const bool over_here = !admits && !plan.shadow;
    status.code = over_here ? RlsCode::over_limit : RlsCode::ok;
    over = over || over_here;
    std::atomic<std::uint64_t>& tally = over_here ? counts.descriptors_over_limit
                                        : !admits ? counts.descriptors_shadow_over_limit
                                                  : counts.descriptors_ok;
    add(tally);
    if (plan.node != nullptr && plan.node->config->detailed_metric) {
      if (RlsCounts* series =
              counters_.detailed(request.domain, series_of(request.descriptors[i]))) {
        add(over_here ? series->descriptors_over_limit
            : !admits ? series->descriptors_shadow_over_limit
                      : series->descriptors_ok);
      }
    }
  }
  response.overall_code = over ? RlsCode::over_limit : RlsCode::ok;
  add(over ? counts.requests_over_limit : counts.requests_ok);

  if (options_.ietf_headers && outcome.limit_count > 0) {
    const wire::RateLimitFields fields = wire::ratelimit_fields(outcome);
    response.response_headers_to_add.emplace_back("RateLimit-Policy", fields.policy);
    response.response_headers_to_add.emplace_back("RateLimit", fields.remaining);
  }
  if (options_.x_ratelimit_headers) add_x_ratelimit_headers(options_, response);
  return Done{};
}

}  // namespace drl::envoy
