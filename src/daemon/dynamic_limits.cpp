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

constexpr std::string_view kReportedPrefix = core::signal_reported_prefix;

void log_limits_change(const std::string& line, bool from_peer) {
  if (from_peer) {
    g_override_log.log(line);
  } else {
    io::log_info(line);
  }
}

}  // namespace

DynamicLimits::DynamicLimits(std::string node_id, std::shared_ptr<const core::PolicySet> configured,
                             core::OverrideLimits limits)
    : limits_(std::move(node_id), std::move(configured), limits, log_limits_change) {
  publish_locked();
}

std::shared_ptr<const core::PolicySet> DynamicLimits::policies() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return in_force_;
}

void DynamicLimits::on_config_applied(std::shared_ptr<const core::PolicySet> configured,
                                      core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  limits_.set_configured(std::move(configured), now);
  publish_locked();
}

Result<core::OverrideRecord> DynamicLimits::set(const wire::OverrideRequest& request,
                                                core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  std::string error = core::validate_override(limits_.configured(), request.scope, request.kind);
  core::OverrideRecord record;
  if (error.empty()) {
    record = limits_.set_override(request.scope, request.kind, request.value, request.ttl_ms,
                                  request.reason, now, error);
  }
  if (!error.empty()) {
    ++stats_.overrides_refused;
    io::log_info("override refused: " + core::describe_scope(request.scope) + ": " + error);
    const bool unknown = limits_.configured().find(request.scope.policy) == nullptr;
    return Error{unknown ? Errc::unknown_policy : Errc::invalid_argument, error};
  }
  ++stats_.overrides_set;
  publish_locked();
  return record;
}

Result<std::uint64_t> DynamicLimits::clear(const wire::OverrideRequest& request,
                                           core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  const std::uint64_t cleared = request.all ? limits_.table().clear_all(now)
                                            : (limits_.table().clear(request.scope, now) ? 1 : 0);
  // A misspelt policy is an error, not "nothing to clear": the operator meant another one. (An
  // override of a policy a reload removed can still be cleared: then cleared is 1.)
  if (cleared == 0 && !request.all && limits_.configured().find(request.scope.policy) == nullptr) {
    return Error{Errc::unknown_policy, "override clear: no policy '" + request.scope.policy +
                                           "' in the configuration, and no override of it"};
  }
  // Likewise a tier, endpoint or window the policy lacks (a path instead of its prefix
  // endpoint, say): named as `drl override set` would name it, or it is an error.
  if (cleared == 0 && !request.all) {
    const std::string wrong =
        core::validate_override(limits_.configured(), request.scope, core::OverrideKind::factor);
    if (!wrong.empty()) {
      return Error{Errc::invalid_argument, "override clear: nothing to clear: " + wrong};
    }
  }
  stats_.overrides_cleared += cleared;
  if (cleared == 0) {
    io::log_info(request.all
                     ? std::string("override clear --all: nothing was active")
                     : "override clear: nothing active for " + core::describe_scope(request.scope));
  }
  republish_locked(now);
  return cleared;
}

Result<core::KeyReset> DynamicLimits::reset(const wire::OverrideRequest& request,
                                            const core::CheckEngine& engine, core::WallTime now) {
  std::lock_guard<std::mutex> guard(mutex_);
  Errc code = Errc::ok;
  std::string error;
  core::KeyReset reset = limits_.reset_key(engine, request.scope, request.reason, now, code, error);
  if (code != Errc::ok) {
    ++stats_.key_resets_refused;
    io::log_info("key reset refused: " + core::describe_scope(request.scope) + ": " + error);
    // Records written before a refusal stand (they are fleet-wide already): told to the caller.
    if (!reset.records.empty()) publish_locked();
    return Error{code, error};
  }
  ++stats_.key_resets;
  publish_locked();
  return reset;
}

std::vector<core::OverrideRecord> DynamicLimits::active(core::WallTime now) const {
  std::vector<core::OverrideRecord> out = limits_.table().active(now);
  std::erase_if(out, [](const core::OverrideRecord& r) { return r.scope.counts_reset; });
  return out;
}

std::vector<core::OverrideRecord> DynamicLimits::listed(core::WallTime now) const {
  std::vector<core::OverrideRecord> out = limits_.table().active(now);
  std::stable_partition(out.begin(), out.end(),
                        [](const core::OverrideRecord& r) { return !r.scope.counts_reset; });
  return out;
}

std::vector<core::OverrideRecord> DynamicLimits::resets(core::WallTime now) const {
  std::vector<core::OverrideRecord> out = limits_.table().active(now);
  std::erase_if(out, [](const core::OverrideRecord& r) { return !r.scope.counts_reset; });
  return out;
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
  if (law.signal == core::signal_loop_lag_ms) return samples.loop_lag_ms;
  if (law.signal == core::signal_cpu_percent) return samples.cpu_percent;
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
  limits_.sample(mono,
                 [&](const core::AdaptiveLaw& law) { return signal_locked(law, samples, mono); });
  std::erase_if(reported_, [&mono](const auto& entry) {
    return (mono.ns - entry.second.at.ns) / 1'000'000 > reported_signal_forget_ms;
  });
  refresh_locked(wall);
}

void DynamicLimits::republish_if_table_moved(core::WallTime now) {
  // Called for every datagram: most change nothing, and cost two atomic loads.
  if (table().version() == published_table_version_.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> guard(mutex_);
  refresh_locked(now);
}

void DynamicLimits::republish_locked(core::WallTime now) {
  limits_.derive(now);
  publish_locked();
}

void DynamicLimits::refresh_locked(core::WallTime now) {
  if (limits_.refresh(now)) publish_locked();
}

void DynamicLimits::publish_locked() {
  published_table_version_.store(limits_.derived_table_version(), std::memory_order_release);
  in_force_ = limits_.policies();
  ++stats_.republished;
  epoch_.fetch_add(1, std::memory_order_acq_rel);
}

bool DynamicLimits::applies_here(const core::OverrideScope& scope) const {
  std::lock_guard<std::mutex> guard(mutex_);
  return limits_.applies_here(scope);
}

std::vector<AdaptiveState> DynamicLimits::adaptive() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<AdaptiveState> out;
  for (const auto& [name, adaptive] : limits_.adaptive()) {
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
    out.push_back(SignalValue{std::string(core::signal_loop_lag_ms), *last_samples_.loop_lag_ms,
                              tick_age_ms});
  }
  if (last_samples_.cpu_percent) {
    out.push_back(SignalValue{std::string(core::signal_cpu_percent), *last_samples_.cpu_percent,
                              tick_age_ms});
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
