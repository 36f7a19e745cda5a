// The policy set in force on a node: the configured policies, adjusted by the active runtime
// overrides (the cluster-wide OverrideTable, docs/dynamic-limits.md) and by the factors of the
// load-adaptive controllers (one per policy with [policy.adaptive]).
//
// Sans I/O and single-threaded, so that drld (daemon::DynamicLimits, which adds the lock, the
// epoch the check path watches and the load signals it measures) and the simulator's nodes run
// this same code. The override table is thread-safe on its own: the replication merges into it
// from wherever it runs, and refresh() notices through its version.
//
// What changed is told to a log sink, one line each; `from_peer` marks the lines a peer's
// records caused, which a daemon rate-limits (a peer that floods the table must not flood the
// log). No sink: nothing is told.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/adaptive_controller.hpp"
#include "core/check_engine.hpp"
#include "core/override_table.hpp"
#include "core/policy.hpp"
#include "core/time.hpp"

namespace drl::core {

using LimitsLog = std::function<void(const std::string& line, bool from_peer)>;

// What `drl key reset` did: the records it wrote (first the one of the scope asked for, then
// one per other endpoint the key had counted in), and what it forgot, per counter.
struct KeyReset {
  std::vector<OverrideRecord> records;
  std::vector<ResetTarget> targets;
};

// "forgot 37 of 100/1m, 12 of 10/1m at endpoint 'POST /login'": a reset's effect for people.
std::string describe_forgotten(const std::vector<ResetTarget>& targets);

class LimitsInForce {
 public:
  struct Adaptive {
    AdaptiveController controller;
    std::uint32_t published_permille = 1000;  // the factor the set in force was derived with
  };

  LimitsInForce(std::string node_id, std::shared_ptr<const PolicySet> configured,
                OverrideLimits limits = {}, LimitsLog log = {});

  // A new configuration: controllers of policies whose [policy.adaptive] law is unchanged keep
  // their state; the set is derived again at once.
  void set_configured(std::shared_ptr<const PolicySet> configured, WallTime now);

  // Steps every controller with its law's signal (`signal_of`: nullopt when the signal is
  // absent). Does not derive: refresh() does, when a factor moved.
  void sample(MonoTime now,
              const std::function<std::optional<double>(const AdaptiveLaw&)>& signal_of);

  // Expires overrides, then derives the set again if the table or a factor moved since it was
  // last derived. Returns true if it derived a new set. No allocation when nothing moved.
  bool refresh(WallTime now);
  // Derives the set again now (after a local write to the table).
  void derive(WallTime now);

  // `drl override set`: writes the record to the table (OverrideTable::set) and derives the
  // set again. Returns the record as stored, or sets `error`.
  OverrideRecord set_override(const OverrideScope& scope, OverrideKind kind, std::uint64_t value,
                              std::int64_t ttl_ms, std::string reason, WallTime now,
                              std::string& error);

  // `drl key reset` of `scope` (policy, key, and tier and endpoint as a check names them):
  // reads the key's counters through `engine` under the set in force (CheckEngine::
  // reset_targets), writes reset records that carry them (until the window after theirs is
  // over), and derives the set again. Sets `code` and `error` on failure (a check's errors;
  // invalid_argument for an unknown tier or endpoint, or when the table refuses a record).
  KeyReset reset_key(const CheckEngine& engine, const OverrideScope& scope, std::string reason,
                     WallTime now, Errc& code, std::string& error);

  const std::shared_ptr<const PolicySet>& policies() const { return in_force_; }
  const PolicySet& configured() const { return *configured_; }
  // The active overrides the set in force was derived from.
  const std::vector<OverrideRecord>& overrides_in_force() const { return active_; }
  // False for an active override that matches no limit of this node's configuration (a policy,
  // tier, endpoint or window that another node has and this one does not).
  bool applies_here(const OverrideScope& scope) const;
  // By policy name.
  const std::map<std::string, Adaptive>& adaptive() const { return adaptive_; }
  // The table's version the set in force was derived from.
  std::uint64_t derived_table_version() const { return derived_table_version_; }

  OverrideTable& table() { return table_; }
  const OverrideTable& table() const { return table_; }
  const std::string& node_id() const { return node_id_; }

 private:
  bool factor_moved() const;
  void log_changes(const std::vector<OverrideRecord>& before, WallTime now);

  const std::string node_id_;
  const LimitsLog log_;
  // Stamps of the records written here since the last derive: the others a derive finds are
  // received from peers, or this node's own handed back after a restart.
  std::vector<HlcStamp> written_here_;
  OverrideTable table_;
  std::shared_ptr<const PolicySet> configured_;
  std::map<std::string, Adaptive> adaptive_;
  std::shared_ptr<const PolicySet> in_force_;
  std::vector<OverrideRecord> active_;
  std::vector<std::string> unmatched_;  // describe_scope of active overrides that match nothing
  std::uint64_t derived_table_version_ = 0;
};

}  // namespace drl::core
