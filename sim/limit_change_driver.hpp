// The dynamic limits of a run: the scenario's override writes and load signals fed into the
// nodes' real override tables and adaptive controllers, and what the report says about them:
// how fast an override reaches every node and goes away at its TTL, the factor over time, and
// the admitted rate per phase.
//
// It also keeps the oracle the exact limiter checks against: every override in force at once
// on true time, with the factors of the first live node (they differ between nodes only when
// the scenario gives nodes different signals).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/override_table.hpp"
#include "core/policy.hpp"
#include "sim/scenario.hpp"
#include "sim/signal_schedule.hpp"
#include "sim/sim_node.hpp"
#include "sim/simulation.hpp"

namespace drl::sim {

class LimitChangeDriver {
 public:
  // As drld samples its load signals.
  static constexpr std::int64_t kSampleIntervalNs = 100'000'000;

  explicit LimitChangeDriver(const Scenario& scenario);

  // The scenario has overrides, signals, a queue or adaptive policies: samples are needed.
  bool enabled() const { return enabled_; }

  // [[override]] number `index`, on `node` (null: the node is down) at true time `now_ns`.
  void write_override(std::size_t index, SimNode* node, std::int64_t now_ns);
  // Every kSampleIntervalNs: the load signals into every live node's controllers.
  void sample(std::int64_t now_ns, const std::vector<std::unique_ptr<SimNode>>& nodes,
              const std::vector<bool>& alive);
  // After node `i` handled anything: derives its policy set again if needed, and moves the
  // override measurements on. Returns true if the node's policy set changed.
  bool after_activity(int i, SimNode& node, std::int64_t now_ns, const std::vector<bool>& alive);
  // A check of the workload at `now_ns`.
  void on_check(std::int64_t now_ns, bool admitted);

  const core::PolicySet& reference_policies() const { return *reference_; }
  // The bound an override's propagation is checked against, in ms.
  double override_bound_ms() const { return override_bound_ms_; }

  // Fills the result's overrides, adaptive series, phases and admitted rate per second, and
  // clears liveness_ok when an override missed its bound.
  void finish(RunResult& result) const;

 private:
  struct Tracking {
    OverrideReport report;
    core::OverrideScope scope;
    core::HlcStamp stamp;  // of the record written (a set's record, or a clear's tombstone)
    bool clear = false;
    bool reset = false;
    // 0: spreading (until every live node has it in force); 1: a set waiting to go away at its
    // TTL; 2: done.
    int stage = 0;
    std::vector<bool> reached;  // per node, for the current stage
  };

  bool reached(const Tracking& tracking, const SimNode& node) const;
  // Whether a write's spread is held to its bound: the run lasts long enough after it, and no
  // partition or crash is under way (or just over) while it spreads.
  bool measurable(const OverrideReport& report) const;
  void refresh_reference(std::int64_t now_ns, const SimNode* first_live);
  std::optional<double> signal_of(std::string_view name, int node, double at_s) const;

  const Scenario& s_;
  bool enabled_ = false;
  double override_bound_ms_ = 0;
  SignalSchedule schedule_;
  std::vector<Tracking> tracking_;

  core::OverrideTable oracle_;
  std::uint64_t oracle_version_ = 0;
  std::vector<std::uint32_t> oracle_factors_permille_;
  std::shared_ptr<const core::PolicySet> reference_;

  double queue_depth_ = 0;
  std::int64_t queue_at_ns_ = 0;

  std::vector<AdaptiveReport> adaptive_;
  std::vector<std::uint64_t> offered_bins_;  // per 100 ms of true time
  std::vector<std::uint64_t> admitted_bins_;
};

}  // namespace drl::sim
