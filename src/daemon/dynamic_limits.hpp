// The policy set in force on this node, and what moves it besides a config reload: runtime
// overrides (the cluster-wide OverrideTable, docs/dynamic-limits.md) and load-adaptive factors
// (one AdaptiveController per policy with [policy.adaptive], fed by load signals).
//
// The set in force is derived by core::LimitsInForce, the same code the simulator's nodes run;
// this class adds what a daemon needs around it: a lock, the load signals drld measures and the
// ones operators report, logging, stats, and the `epoch` the check path watches (one atomic
// load per read callback) as it watches a config reload: checks never look an override up. The
// config generation keeps counting reloads only.
//
// Thread-safe. Client workers call set / clear / report, the main loop calls tick every
// tick_interval_ms and on_config_applied, the replication (on the main loop too) merges into
// table() directly and calls republish_if_table_moved after each datagram.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/adaptive_controller.hpp"
#include "core/limits_in_force.hpp"
#include "core/override_table.hpp"
#include "core/policy.hpp"
#include "core/time.hpp"
#include "drl/result.hpp"
#include "wire/client_request.hpp"

namespace drl::daemon {

// How often drld expires overrides, samples the load signals and steps the controllers.
inline constexpr std::int64_t dynamic_tick_interval_ms = 100;
// Distinct names of reported signals held at once; a report of a new name beyond it is refused
// (and counted). A name not reported for reported_signal_forget_ms makes room again.
inline constexpr std::size_t reported_signals_max = 64;
inline constexpr std::int64_t reported_signal_forget_ms = 3600 * 1000;

// The load signals drld measures itself, sampled on each tick.
struct LoadSamples {
  std::optional<double> loop_lag_ms;  // how late the main loop's tick timer fired
  std::optional<double> cpu_percent;  // the host's CPU, busy share of all CPUs
};

// One adaptive policy's state, for status and metrics.
struct AdaptiveState {
  std::string policy;
  std::string signal;
  bool signal_present = false;
  double smoothed_signal = 0;
  std::uint32_t factor_permille = 1000;  // in force
};

// One load signal's latest value, for status and metrics: "loop_lag_ms", "cpu_percent",
// "reported:NAME".
struct SignalValue {
  std::string name;
  double value = 0;
  std::int64_t age_ms = 0;  // since it was sampled or reported
};

// Counts of what operators and peers did, beyond OverrideTable's own stats.
struct DynamicStats {
  std::uint64_t overrides_set = 0;       // local sets that were stored
  std::uint64_t overrides_cleared = 0;   // active overrides cleared locally
  std::uint64_t overrides_refused = 0;   // local sets refused (cannot apply, out of bounds)
  std::uint64_t key_resets = 0;          // local key resets stored
  std::uint64_t key_resets_refused = 0;  // local key resets refused (table full, bounds)
  std::uint64_t reports = 0;             // reports recorded
  std::uint64_t reports_refused = 0;     // reports of a new name with reported_signals_max held
  std::uint64_t republished = 0;         // policy sets derived and published
};

class DynamicLimits {
 public:
  DynamicLimits(std::string node_id, std::shared_ptr<const core::PolicySet> configured,
                core::OverrideLimits limits = {});

  // Any thread, lock-free: moves every time a new set is in force.
  std::uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  std::shared_ptr<const core::PolicySet> policies() const;

  // A reloaded configuration (ConfigManager's on_applied hook): controllers of policies whose
  // [policy.adaptive] is unchanged keep their state; the set is derived again at once.
  void on_config_applied(std::shared_ptr<const core::PolicySet> configured, core::WallTime now);

  // `drl override set`: validated against the configured policies, then written to the table.
  // Errc::invalid_argument with the reason when refused.
  Result<core::OverrideRecord> set(const wire::OverrideRequest& request, core::WallTime now);
  // `drl override clear`: the scope's override, or every active one with request.all.
  Result<std::uint64_t> clear(const wire::OverrideRequest& request, core::WallTime now);
  // `drl key reset`: forgets what the request's key has counted so far, as `engine` reads it
  // (core::LimitsInForce::reset_key).
  Result<core::KeyReset> reset(const wire::OverrideRequest& request,
                               const core::CheckEngine& engine, core::WallTime now);
  // The active overrides (key resets are not listed).
  std::vector<core::OverrideRecord> active(core::WallTime now) const;
  // The key resets in force: until the windows they forget are over.
  std::vector<core::OverrideRecord> resets(core::WallTime now) const;
  // What `drl override list` shows: the active overrides, then the key resets in force.
  std::vector<core::OverrideRecord> listed(core::WallTime now) const;
  // Op report: the latest value of signal "reported:NAME" (`now`: monotonic).
  Result<Done> report(std::string_view name, double value, core::MonoTime now);

  // Main loop, every dynamic_tick_interval_ms: expires overrides, steps the controllers with the
  // samples, republishes if the table or a factor moved.
  void tick(core::MonoTime mono, core::WallTime wall, const LoadSamples& samples);

  // After the replication took in a datagram: if it changed the table (a peer's override
  // merged), the set in force is derived again now rather than at the next tick.
  void republish_if_table_moved(core::WallTime now);

  // For the replication: the table peers' records merge into.
  core::OverrideTable& table() { return limits_.table(); }
  const core::OverrideTable& table() const { return limits_.table(); }

  // False for an active override that matches no limit of this node's configuration (a policy,
  // tier, endpoint or window that another node has and this one does not).
  bool applies_here(const core::OverrideScope& scope) const;
  std::vector<AdaptiveState> adaptive() const;
  std::vector<SignalValue> signals(core::MonoTime now) const;
  DynamicStats stats() const;

 private:
  struct Reported {
    double value = 0;
    core::MonoTime at;
  };

  // With mutex_ held: derives the set again (or only if something moved), then publishes it.
  void republish_locked(core::WallTime now);
  void refresh_locked(core::WallTime now);
  void publish_locked();
  std::optional<double> signal_locked(const core::AdaptiveLaw& law, const LoadSamples& samples,
                                      core::MonoTime now) const;

  mutable std::mutex mutex_;
  core::LimitsInForce limits_;  // its table is thread-safe; the rest is under mutex_
  std::shared_ptr<const core::PolicySet> in_force_;
  std::atomic<std::uint64_t> published_table_version_{0};  // written under mutex_
  std::map<std::string, Reported, std::less<>> reported_;
  LoadSamples last_samples_;
  core::MonoTime last_tick_;
  DynamicStats stats_;
  std::atomic<std::uint64_t> epoch_{1};
};

}  // namespace drl::daemon
