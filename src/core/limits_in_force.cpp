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
  if (record.kind == OverrideKind::reset) {
    std::string text = describe_scope(record.scope) + ": forgets " +
                       std::to_string(forgotten(record)) + " counted in the current window, by " +
                       record.stamp.node_id;
    if (!record.reason.empty()) text += " (" + record.reason + ")";
    return text;
  }
  std::string text = describe_scope(record.scope) + ": " +
                     describe_value(record.kind, record.value) + " for " +
                     format_duration_ms(static_cast<std::uint64_t>(
                         std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms))) +
                     ", set by " + record.stamp.node_id;
  if (!record.reason.empty()) text += " (" + record.reason + ")";
  return text;
}

}  // namespace

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
}

OverrideRecord LimitsInForce::reset_key(const CheckEngine& engine, const OverrideScope& scope,
                                        std::string reason, WallTime now, Errc& code,
                                        std::string& error) {
  code = Errc::ok;
  error.clear();
  const CheckItem item{scope.policy, scope.key, scope.tier, scope.endpoint, 0};
  std::vector<ResetMark> marks;
  code = engine.reset_marks(*in_force_, now, item, marks, error);
  if (code != Errc::ok) return OverrideRecord{};
  OverrideScope reset_scope = scope;
  reset_scope.window_ms = 0;
  reset_scope.counts_reset = true;
  const std::int64_t lasts_ms = reset_lasts_ms(marks, now);
  OverrideRecord record = table_.set(reset_scope, OverrideKind::reset, 0, lasts_ms,
                                     std::move(reason), now, error, std::move(marks));
  if (!error.empty()) {
    code = Errc::invalid_argument;
    return record;
  }
  derive(now);
  return record;
}

void LimitsInForce::log_changes(const std::vector<OverrideRecord>& before, WallTime now) const {
  const auto find = [](const std::vector<OverrideRecord>& records, const OverrideRecord& record) {
    return std::find_if(records.begin(), records.end(),
                        [&record](const auto& other) { return other.scope == record.scope; });
  };
  for (const OverrideRecord& record : active_) {
    const auto earlier = find(before, record);
    if (earlier != before.end() && earlier->stamp == record.stamp) continue;
    const char* what = record.scope.counts_reset ? "key reset: "
                       : applies_here(record.scope)
                           ? "override in force: "
                           : "override received, matches nothing in this node's configuration: ";
    const std::string text = what + describe_record(record, now);
    log_(text, record.stamp.node_id != node_id_);
  }
  for (const OverrideRecord& record : before) {
    // A reset ends when the windows it marks are over: nothing changes then.
    if (record.scope.counts_reset || find(active_, record) != active_.end()) continue;
    const bool expired = record.expires_wall_ms <= now.unix_ms;
    log_("override ended (" + std::string(expired ? "expired" : "cleared") + "): " +
             describe_scope(record.scope) + ", was " + describe_value(record.kind, record.value),
         true);
  }
}

bool LimitsInForce::applies_here(const OverrideScope& scope) const {
  return std::find(unmatched_.begin(), unmatched_.end(), describe_scope(scope)) == unmatched_.end();
}

}  // namespace drl::core
