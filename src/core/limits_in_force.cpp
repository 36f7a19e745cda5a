#include "core/limits_in_force.hpp"

#include <algorithm>
#include <utility>

#include "core/duration.hpp"
#include "core/limit_adjuster.hpp"

namespace drl::core {
namespace {

bool same_law(const AdaptiveLaw& a, const AdaptiveLaw& b) {
  return a.signal == b.signal && a.target == b.target && a.floor_at == b.floor_at &&
         a.floor_permille == b.floor_permille && a.smoothing_ms == b.smoothing_ms &&
         a.recover_ms == b.recover_ms && a.signal_stale_ms == b.signal_stale_ms;
}

std::string describe_record(const OverrideRecord& record, WallTime now) {
  std::string text = describe_scope(record.scope);
  if (record.kind == OverrideKind::reset) {
    text += ", by " + record.stamp.node_id;
  } else {
    text += ": " + describe_value(record.kind, record.value) + " for " +
            format_span_ms(static_cast<std::uint64_t>(
                std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms))) +
            ", set by " + record.stamp.node_id;
  }
  if (!record.reason.empty()) text += " (" + record.reason + ")";
  return text;
}

}  // namespace

std::string describe_forgotten(const std::vector<ResetTarget>& targets) {
  if (targets.empty()) return "forgot nothing (no counter)";
  std::string text = "forgot ";
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const ResetTarget& target = targets[i];
    if (i != 0) text += ", ";
    // A blocked key's limit in force is 0: "3 of 0/1m" would read as nonsense.
    text += target.limit == 0
                ? std::to_string(target.counted) + " in " +
                      format_duration_ms(target.mark.window_ms) + " (blocked)"
                : std::to_string(target.counted) + " of " + std::to_string(target.limit) + "/" +
                      format_duration_ms(target.mark.window_ms);
    if (!target.endpoint.empty()) text += " at endpoint '" + target.endpoint + "'";
  }
  return text;
}

LimitsInForce::LimitsInForce(std::string node_id, std::shared_ptr<const PolicySet> configured,
                             OverrideLimits limits, LimitsLog log)
    : node_id_(node_id), log_(std::move(log)), table_(std::move(node_id), limits) {
  set_configured(std::move(configured), WallTime{});
}

void LimitsInForce::set_configured(std::shared_ptr<const PolicySet> configured, WallTime now) {
  configured_ = std::move(configured);
  std::map<std::string, Adaptive> kept;
  for (const Policy& policy : configured_->policies()) {
    if (!policy.adaptive_enabled) continue;
    const auto it = adaptive_.find(policy.name);
    if (it != adaptive_.end() && same_law(it->second.controller.law(), policy.adaptive)) {
      kept.emplace(policy.name, std::move(it->second));
    } else {
      kept.emplace(policy.name, Adaptive{AdaptiveController(policy.adaptive), 1000});
    }
  }
  adaptive_ = std::move(kept);
  derive(now);
}

void LimitsInForce::sample(
    MonoTime now, const std::function<std::optional<double>(const AdaptiveLaw&)>& signal_of) {
  for (auto& [name, adaptive] : adaptive_) {
    adaptive.controller.update(now, signal_of(adaptive.controller.law()));
  }
}

bool LimitsInForce::factor_moved() const {
  return std::any_of(adaptive_.begin(), adaptive_.end(), [](const auto& entry) {
    return entry.second.controller.factor_permille() != entry.second.published_permille;
  });
}

bool LimitsInForce::refresh(WallTime now) {
  table_.expire(now);
  if (table_.version() == derived_table_version_ && !factor_moved()) return false;
  derive(now);
  return true;
}

void LimitsInForce::derive(WallTime now) {
  // The version first: a merge between here and active() is then seen at the next refresh.
  derived_table_version_ = table_.version();
  std::vector<OverrideRecord> before = std::move(active_);
  active_ = table_.active(now);
  std::vector<AdaptiveFactor> factors;
  for (auto& [name, adaptive] : adaptive_) {
    const std::uint32_t permille = adaptive.controller.factor_permille();
    if (permille != adaptive.published_permille && log_) {
      log_("adaptive limit of policy " + name + ": factor " +
               std::to_string(adaptive.published_permille) + " -> " + std::to_string(permille) +
               " permille (" + adaptive.controller.law().signal + " smoothed " +
               std::to_string(adaptive.controller.smoothed_signal()) + ")",
           false);
    }
    adaptive.published_permille = permille;
    if (permille == 1000) continue;
    factors.push_back(AdaptiveFactor{name, permille, adaptive.controller.law().signal,
                                     adaptive.controller.smoothed_signal()});
  }
  AdjustmentSummary summary;
  in_force_ = active_.empty() && factors.empty()
                  ? configured_
                  : adjust_policies(*configured_, active_, factors, &summary);
  unmatched_ = std::move(summary.unmatched);
  if (log_) log_changes(before, now);
  written_here_.clear();
}

OverrideRecord LimitsInForce::set_override(const OverrideScope& scope, OverrideKind kind,
                                           std::uint64_t value, std::int64_t ttl_ms,
                                           std::string reason, WallTime now, std::string& error) {
  OverrideRecord record = table_.set(scope, kind, value, ttl_ms, std::move(reason), now, error);
  if (!error.empty()) return record;  // nothing written: the set in force stands
  written_here_.push_back(record.stamp);
  derive(now);
  return record;
}

KeyReset LimitsInForce::reset_key(const CheckEngine& engine, const OverrideScope& scope,
                                  std::string reason, WallTime now, Errc& code,
                                  std::string& error) {
  code = Errc::ok;
  error.clear();
  KeyReset reset;
  const CheckItem item{scope.policy, scope.key, scope.tier, scope.endpoint, 0};
  code = engine.reset_targets(*in_force_, now, item, reset.targets, error);
  if (code != Errc::ok) return reset;
  // With an endpoint, one record under its name as configured (a path under a prefix endpoint
  // names the prefix). Without, one record for the policy-wide counters and one per endpoint
  // the key counted in: a record's marks stay within what one check resolves to
  // (bounds::limits_per_item_max).
  std::string named = scope.endpoint;
  for (const ResetTarget& target : reset.targets) {
    if (!scope.endpoint.empty() && !target.endpoint.empty()) named = target.endpoint;
  }
  std::vector<std::string> endpoints{named};
  for (const ResetTarget& target : reset.targets) {
    if (scope.endpoint.empty() && !target.endpoint.empty() &&
        std::find(endpoints.begin(), endpoints.end(), target.endpoint) == endpoints.end()) {
      endpoints.push_back(target.endpoint);
    }
  }
  if (endpoints.size() > bounds::key_reset_records_max) {
    code = Errc::invalid_argument;
    error = "the key has counted in " + std::to_string(endpoints.size() - 1) +
            " endpoints, more than one reset writes (" +
            std::to_string(bounds::key_reset_records_max - 1) + "): reset it by --endpoint";
    return reset;
  }
  for (const std::string& endpoint : endpoints) {
    std::vector<ResetMark> marks;
    for (const ResetTarget& target : reset.targets) {
      const bool here = target.endpoint.empty() ? endpoint == named : target.endpoint == endpoint;
      if (here) marks.push_back(target.mark);
    }
    if (marks.size() > bounds::limits_per_item_max) {
      code = Errc::invalid_argument;
      error = "the key has " + std::to_string(marks.size()) + " counters in " +
              (endpoint.empty() ? std::string("its policy-wide limits")
                                : "endpoint '" + endpoint + "'") +
              " over its tiers, more than one reset holds: reset it by --tier";
      return reset;
    }
    OverrideScope reset_scope = scope;
    reset_scope.endpoint = endpoint;
    reset_scope.window_ms = 0;
    reset_scope.counts_reset = true;
    const std::int64_t lasts_ms = reset_lasts_ms(marks, now);
    OverrideRecord record = table_.set(reset_scope, OverrideKind::reset, 0, lasts_ms, reason, now,
                                       error, std::move(marks));
    if (!error.empty()) {
      code = Errc::invalid_argument;
      break;
    }
    written_here_.push_back(record.stamp);
    reset.records.push_back(std::move(record));
  }
  if (log_ && !reset.records.empty()) {
    std::string text = "key reset: " + describe_scope(reset.records.front().scope) + ": " +
                       describe_forgotten(reset.targets);
    if (!reason.empty()) text += " (" + reason + ")";
    log_(text, false);
  }
  derive(now);
  return reset;
}

void LimitsInForce::log_changes(const std::vector<OverrideRecord>& before, WallTime now) {
  const auto find = [](const std::vector<OverrideRecord>& records, const OverrideRecord& record) {
    return std::find_if(records.begin(), records.end(),
                        [&record](const auto& other) { return other.scope == record.scope; });
  };
  for (const OverrideRecord& record : active_) {
    const auto earlier = find(before, record);
    if (earlier != before.end() && earlier->stamp == record.stamp) continue;
    const bool written_here =
        std::find(written_here_.begin(), written_here_.end(), record.stamp) != written_here_.end();
    // A reset written here was told by reset_key, with what it forgot.
    if (written_here && record.scope.counts_reset) continue;
    const bool ours = record.stamp.node_id == node_id_;
    std::string what = record.scope.counts_reset ? "key reset" : "override";
    if (written_here) {
      what += " in force: ";
    } else if (ours) {
      what += " restored (this node's, from before it restarted): ";
    } else {
      what += " received: ";
    }
    if (!record.scope.counts_reset && !applies_here(record.scope)) {
      what += "matches nothing in this node's configuration: ";
    }
    log_(what + describe_record(record, now), !written_here);
  }
  std::vector<OverrideRecord> tombstones;  // who cleared: read only when something ended
  for (const OverrideRecord& record : before) {
    if (find(active_, record) != active_.end()) continue;
    if (record.scope.counts_reset) {
      // The windows it forgot are over: checks see the same counts before and after.
      log_("key reset over (the windows it forgot have ended): " + describe_scope(record.scope),
           true);
      continue;
    }
    const bool expired = record.expires_wall_ms <= now.unix_ms;
    std::string text = "override ended (" + std::string(expired ? "expired" : "cleared") +
                       "): " + describe_scope(record.scope) + ", was " +
                       describe_value(record.kind, record.value) + " set by " +
                       record.stamp.node_id;
    if (!expired) {
      if (tombstones.empty()) tombstones = table_.records();
      const auto clear = find(tombstones, record);
      if (clear != tombstones.end() && clear->kind == OverrideKind::cleared) {
        text += ", cleared by " + clear->stamp.node_id;
      }
    }
    log_(text, true);
  }
}

bool LimitsInForce::applies_here(const OverrideScope& scope) const {
  return std::find(unmatched_.begin(), unmatched_.end(), describe_scope(scope)) == unmatched_.end();
}

}  // namespace drl::core
