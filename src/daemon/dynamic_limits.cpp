#include "daemon/dynamic_limits.hpp"

#include <algorithm>
#include <cstdio>

#include "core/duration.hpp"
#include "core/limit_adjuster.hpp"
#include "io/log.hpp"

namespace drl::daemon {
namespace {

// Overrides arriving from peers are logged one line each; a peer that floods the table is
// bounded by the table (records_max), this bounds the log.
io::RateLimitedLog g_override_log(io::LogLevel::info, 20, 10'000);

bool same_law(const core::AdaptiveLaw& a, const core::AdaptiveLaw& b) {
  return a.signal == b.signal && a.target == b.target && a.floor_at == b.floor_at &&
         a.floor_permille == b.floor_permille && a.smoothing_ms == b.smoothing_ms &&
         a.recover_ms == b.recover_ms && a.signal_stale_ms == b.signal_stale_ms;
}

constexpr std::string_view kReportedPrefix = "reported:";

std::string describe_record(const core::OverrideRecord& record, core::WallTime now) {
  std::string text = core::describe_scope(record.scope) + ": " +
                     core::describe_value(record.kind, record.value) + " for " +
                     core::format_duration_ms(static_cast<std::uint64_t>(
                         std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms))) +
                     ", set by " + record.stamp.node_id;
  if (!record.reason.empty()) text += " (" + record.reason + ")";
  return text;
}

}  // namespace

DynamicLimits::DynamicLimits(std::string node_id, std::shared_ptr<const core::PolicySet> configured,
                             core::OverrideLimits limits)
    : node_id_(node_id), table_(std::move(node_id), limits) {
  on_config_applied(std::move(configured), core::WallTime{});
}

std::shared_ptr<const core::PolicySet> DynamicLimits::policies() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return in_force_;
}

void DynamicLimits::on_config_applied(std::shared_ptr<const core::PolicySet> configured,
                                      core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  configured_ = std::move(configured);
  std::map<std::string, Adaptive> kept;
  for (const core::Policy& policy : configured_->policies()) {
    if (!policy.adaptive_enabled) continue;
    const auto it = adaptive_.find(policy.name);
    if (it != adaptive_.end() && same_law(it->second.controller.law(), policy.adaptive)) {
      kept.emplace(policy.name, std::move(it->second));
    } else {
      kept.emplace(policy.name, Adaptive{core::AdaptiveController(policy.adaptive), 1000});
    }
  }
  adaptive_ = std::move(kept);
  republish_locked(now);
}

Result<core::OverrideRecord> DynamicLimits::set(const wire::OverrideRequest& request,
                                                core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  std::string error = core::validate_override(*configured_, request.scope, request.kind);
  core::OverrideRecord record;
  if (error.empty()) {
    record = table_.set(request.scope, request.kind, request.value, request.ttl_ms, request.reason,
                        now, error);
  }
  if (!error.empty()) {
    ++stats_.overrides_refused;
    io::log_info("override refused: " + core::describe_scope(request.scope) + ": " + error);
    const bool unknown = configured_->find(request.scope.policy) == nullptr;
    return Error{unknown ? Errc::unknown_policy : Errc::invalid_argument, error};
  }
  ++stats_.overrides_set;
  republish_locked(now);
  return record;
}

std::uint64_t DynamicLimits::clear(const wire::OverrideRequest& request, core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  const std::uint64_t cleared =
      request.all ? table_.clear_all(now) : (table_.clear(request.scope, now) ? 1 : 0);
  stats_.overrides_cleared += cleared;
  if (cleared == 0) {
    io::log_info(request.all
                     ? std::string("override clear --all: nothing was active")
                     : "override clear: nothing active for " + core::describe_scope(request.scope));
  }
  republish_locked(now);
  return cleared;
}

std::vector<core::OverrideRecord> DynamicLimits::active(core::WallTime now) const {
  return table_.active(now);
}

Result<Done> DynamicLimits::report(std::string_view name, double value, core::MonoTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  auto it = reported_.find(name);
  if (it == reported_.end()) {
    if (reported_.size() >= reported_signals_max) {
      ++stats_.reports_refused;
      return Error{Errc::invalid_argument,
                   "already " + std::to_string(reported_signals_max) +
                       " reported signals; a new name is refused until one is not reported for " +
                       core::format_duration_ms(reported_signal_forget_ms)};
    }
    it = reported_.emplace(std::string(name), Reported{}).first;
  }
  it->second = Reported{value, now};
  ++stats_.reports;
  return Done{};
}

std::optional<double> DynamicLimits::signal_locked(const core::AdaptiveLaw& law,
                                                   const LoadSamples& samples,
                                                   core::MonoTime now) const {
  if (law.signal == "loop_lag_ms") return samples.loop_lag_ms;
  if (law.signal == "cpu_percent") return samples.cpu_percent;
  if (law.signal.starts_with(kReportedPrefix)) {
    const auto it = reported_.find(std::string_view(law.signal).substr(kReportedPrefix.size()));
    if (it == reported_.end()) return std::nullopt;
    if ((now.ns - it->second.at.ns) / 1'000'000 > law.signal_stale_ms) return std::nullopt;
    return it->second.value;
  }
  return std::nullopt;
}

void DynamicLimits::tick(core::MonoTime mono, core::WallTime wall, const LoadSamples& samples) {
  std::lock_guard<std::mutex> guard(mutex_);
  last_samples_ = samples;
  last_tick_ = mono;
  table_.expire(wall);
  bool factor_moved = false;
  for (auto& [name, adaptive] : adaptive_) {
    adaptive.controller.update(mono, signal_locked(adaptive.controller.law(), samples, mono));
    factor_moved =
        factor_moved || adaptive.controller.factor_permille() != adaptive.published_permille;
  }
  std::erase_if(reported_, [&mono](const auto& entry) {
    return (mono.ns - entry.second.at.ns) / 1'000'000 > reported_signal_forget_ms;
  });
  if (factor_moved ||
      table_.version() != published_table_version_.load(std::memory_order_relaxed)) {
    republish_locked(wall);
  }
}

void DynamicLimits::republish_if_table_moved(core::WallTime now) {
  // Called for every datagram: most change nothing, and cost two atomic loads.
  if (table_.version() == published_table_version_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> guard(mutex_);
  if (table_.version() != published_table_version_.load(std::memory_order_relaxed)) {
    republish_locked(now);
  }
}

void DynamicLimits::republish_locked(core::WallTime now) {
  // The version first: a merge between here and active() is then seen at the next tick.
  published_table_version_.store(table_.version(), std::memory_order_release);
  const std::vector<core::OverrideRecord> active = table_.active(now);
  std::vector<core::AdaptiveFactor> factors;
  for (auto& [name, adaptive] : adaptive_) {
    const std::uint32_t permille = adaptive.controller.factor_permille();
    if (permille != adaptive.published_permille) {
      io::log_info("adaptive limit of policy " + name + ": factor " +
                   std::to_string(adaptive.published_permille) + " -> " + std::to_string(permille) +
                   " permille (" + adaptive.controller.law().signal + " smoothed " +
                   std::to_string(adaptive.controller.smoothed_signal()) + ")");
      adaptive.published_permille = permille;
    }
    if (permille == 1000) continue;
    factors.push_back(core::AdaptiveFactor{name, permille, adaptive.controller.law().signal,
                                           adaptive.controller.smoothed_signal()});
  }
  core::AdjustmentSummary summary;
  in_force_ = active.empty() && factors.empty()
                  ? configured_
                  : core::adjust_policies(*configured_, active, factors, &summary);
  unmatched_ = std::move(summary.unmatched);
  log_changes_locked(active, now);
  ++stats_.republished;
  epoch_.fetch_add(1, std::memory_order_acq_rel);
}

void DynamicLimits::log_changes_locked(const std::vector<core::OverrideRecord>& active,
                                       core::WallTime now) {
  const auto find = [](const std::vector<core::OverrideRecord>& records,
                       const core::OverrideRecord& record) {
    return std::find_if(records.begin(), records.end(),
                        [&record](const auto& other) { return other.scope == record.scope; });
  };
  for (const core::OverrideRecord& record : active) {
    const auto before = find(logged_active_, record);
    if (before != logged_active_.end() && before->stamp == record.stamp) continue;
    // A peer may have a policy (or tier, endpoint, window) that this node's configuration lacks.
    const bool applies = std::find(unmatched_.begin(), unmatched_.end(),
                                   core::describe_scope(record.scope)) == unmatched_.end();
    const std::string text =
        (applies ? "override in force: "
                 : "override received, matches nothing in this node's configuration: ") +
        describe_record(record, now);
    if (record.stamp.node_id == node_id_) {
      io::log_info(text);
    } else {
      g_override_log.log(text);
    }
  }
  for (const core::OverrideRecord& record : logged_active_) {
    if (find(active, record) != active.end()) continue;
    const bool expired = record.expires_wall_ms <= now.unix_ms;
    g_override_log.log("override ended (" + std::string(expired ? "expired" : "cleared") +
                       "): " + core::describe_scope(record.scope) + ", was " +
                       core::describe_value(record.kind, record.value));
  }
  logged_active_ = active;
}

bool DynamicLimits::applies_here(const core::OverrideScope& scope) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return std::find(unmatched_.begin(), unmatched_.end(), core::describe_scope(scope)) ==
         unmatched_.end();
}

std::vector<AdaptiveState> DynamicLimits::adaptive() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<AdaptiveState> out;
  for (const auto& [name, adaptive] : adaptive_) {
    out.push_back(
        AdaptiveState{name, adaptive.controller.law().signal, adaptive.controller.signal_present(),
                      adaptive.controller.smoothed_signal(), adaptive.published_permille});
  }
  return out;
}

std::vector<SignalValue> DynamicLimits::signals(core::MonoTime now) const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<SignalValue> out;
  const std::int64_t tick_age_ms = (now.ns - last_tick_.ns) / 1'000'000;
  if (last_samples_.loop_lag_ms) {
    out.push_back(SignalValue{"loop_lag_ms", *last_samples_.loop_lag_ms, tick_age_ms});
  }
  if (last_samples_.cpu_percent) {
    out.push_back(SignalValue{"cpu_percent", *last_samples_.cpu_percent, tick_age_ms});
  }
  for (const auto& [name, reported] : reported_) {
    out.push_back(SignalValue{std::string(kReportedPrefix) + name, reported.value,
                              (now.ns - reported.at.ns) / 1'000'000});
  }
  return out;
}

DynamicStats DynamicLimits::stats() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return stats_;
}

}  // namespace drl::daemon
