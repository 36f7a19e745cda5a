// One simulation run: the scenario's nodes on the simulated network, driven by virtual time
// from event to event, compared with an exact centralized limiter fed the same checks in the
// same order. Nothing sleeps; the same scenario and seed give the same result, byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/scenario.hpp"

namespace drl::sim {

// Figures for one limit of the workload's policy.
struct LimitReport {
  std::string label;  // "api 100/1s sliding"
  std::uint64_t limit = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t windows = 0;         // (key, window) pairs offered more than the limit
  std::uint64_t windows_over = 0;    // ... in which the cluster admitted more than the limit
  double overshoot_max_percent = 0;  // worst excess over the limit, % of the limit
  double overshoot_p99_percent = 0;
  double overshoot_mean_percent = 0;
  double bound_percent = 0;      // the safety bound in force (largest over windows)
  std::uint64_t violations = 0;  // windows above their bound
  std::string first_violation;
};

struct Convergence {
  std::string after;  // "traffic stop at 8s", "heal at 20s", "restart of n2 at 7s"
  double at_s = 0;
  double took_ms = -1;  // -1: not converged before the run ended
  double bound_ms = 0;
  bool measured = true;  // false: the run ended before the bound passed
};

// One row of the timeline: a window of the policy's first limit.
struct TimelineRow {
  double start_s = 0;
  std::uint64_t offered = 0;
  std::uint64_t admitted = 0;
  std::uint64_t exact = 0;
  std::uint64_t limit_total = 0;  // limit x keys offered in this window
  std::uint64_t focus_offered = 0;
  std::uint64_t focus_admitted = 0;
  std::uint64_t focus_exact = 0;
  std::vector<std::uint64_t> admitted_by_node;
};

struct RunResult {
  std::string scenario;
  std::uint64_t seed = 0;
  int nodes = 0;
  double duration_s = 0;
  std::string focus_key;
  std::uint64_t checks = 0;
  std::uint64_t admitted = 0;
  std::uint64_t exact_admitted = 0;
  std::uint64_t false_rejects = 0;  // denied, though the exact limiter admitted
  std::uint64_t false_admits = 0;   // admitted, though the exact limiter denied
  std::vector<LimitReport> limits;
  std::vector<Convergence> convergence;
  double datagrams_per_node_per_s = 0;
  double bytes_per_node_per_s = 0;
  std::uint64_t datagrams_lost = 0;
  std::uint64_t datagrams_cut = 0;
  std::uint64_t datagrams_dropped_by_nodes = 0;  // refused by a node's codec (checksum, replay)
  double max_clock_offset_ms = 0;  // the largest clock offset a node measured to a live peer
  std::uint64_t updates_sent = 0;  // slot updates in deltas and repairs, all nodes
  std::vector<TimelineRow> timeline;
  bool safety_ok = true;
  bool liveness_ok = true;
  double wall_seconds = 0;  // how long the run took (not part of the deterministic output)
};

RunResult run_simulation(const Scenario& scenario);

}  // namespace drl::sim
