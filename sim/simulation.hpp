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
  std::uint64_t limit = 0;        // the largest limit in force in this window (on any node)
  std::uint64_t limit_total = 0;  // limit x keys offered in this window
  std::uint64_t focus_offered = 0;
  std::uint64_t focus_admitted = 0;
  std::uint64_t focus_exact = 0;
  std::vector<std::uint64_t> admitted_by_node;
};

// An override written on one node ([[override]]): how long until every live node had it in
// force, and, for a set, until every node had let it go at its TTL.
struct OverrideReport {
  std::string what;  // "set factor 0.5 on policy api on n0"
  double at_s = 0;
  double ttl_s = 0;         // a set's; 0 for a clear
  double in_force_ms = -1;  // from the write until every live node's limits used it; -1: never
  double bound_ms = 0;
  // False: not held to the bound (a partition or crash under way, or the run ended first).
  bool measured = true;
  // A set: from its expiry (at + ttl, the writer's clock) until no node had it in force any
  // more; -1: not seen (the run ended first, or a later write superseded it).
  double expired_ms = -1;
  std::string error;  // the node refused the write (or had nothing to clear)
};

// One sample of an adaptive policy's factor (every 100 ms of true time), over the live nodes.
struct FactorSample {
  double at_s = 0;
  std::uint32_t min_permille = 1000;
  std::uint32_t max_permille = 1000;
  double signal = 0;    // the first live node's input, unsmoothed (0 when absent)
  double smoothed = 0;  // ... and its moving average
};

struct AdaptiveReport {
  std::string policy;
  std::string signal;  // the law's signal
  std::vector<FactorSample> samples;
};

// Between two moments where the scenario changes something (a signal step or ramp, an override,
// the traffic starting or stopping): the admitted rate, and the factors once settled.
struct PhaseReport {
  double start_s = 0;
  double end_s = 0;
  double offered_per_s = 0;
  double admitted_per_s = 0;
  // Over the phase's second half, when the controllers had time to settle.
  double settled_admitted_per_s = 0;
  std::vector<std::uint32_t> settled_factor_min_permille;  // per adaptive policy, in order
  std::vector<std::uint32_t> settled_factor_max_permille;
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
  // What makes up a node's gossip: messages sent per second, by kind, over the nodes alive at
  // the end (a message of many records may take more than one datagram).
  struct MessagesPerNode {
    double heartbeats = 0;
    double acks = 0;
    double deltas = 0;
    double repairs = 0;
    double totals = 0;
  };
  MessagesPerNode messages_per_node_per_s;
  std::uint64_t datagrams_lost = 0;
  std::uint64_t datagrams_cut = 0;
  std::uint64_t datagrams_dropped_by_nodes = 0;  // refused by a node's codec (checksum, replay)
  std::uint64_t datagrams_corrupted = 0;         // copies with a byte changed on the way
  std::uint64_t datagrams_dropped_broken = 0;    // deltas or repairs a broken node never sent
  double max_clock_offset_ms = 0;  // the largest clock offset a node measured to a live peer
  std::uint64_t updates_sent = 0;  // slot updates in deltas and repairs, all nodes
  // Key pressure ([workload] flood_per_s, max_keys), summed over the nodes' stores.
  std::uint64_t flood_checks = 0;
  std::uint64_t keys_evicted = 0;
  std::uint64_t origin_slots_exhausted = 0;
  std::uint64_t floors_applied = 0;
  // Checks that waited for a starting node's first sync of counts ([cluster] warmup_max), and
  // the longest wait.
  std::uint64_t checks_held = 0;
  double hold_max_ms = 0;
  // Hard limits with rights_wait_max: checks that waited for a grant, those admitted after it,
  // and their waits (all of them: admitted or not), mean and longest.
  std::uint64_t rights_waits = 0;
  std::uint64_t rights_waits_admitted = 0;
  double rights_wait_ms_total = 0;
  double rights_wait_max_ms = 0;
  // Through key owners: keys' first checks that waited for their owners' totals, those the
  // totals reached in time, and their waits, mean and longest.
  std::uint64_t totals_waits = 0;
  std::uint64_t totals_waits_answered = 0;
  double totals_wait_ms_total = 0;
  double totals_wait_max_ms = 0;
  std::vector<TimelineRow> timeline;
  std::vector<OverrideReport> overrides;
  std::vector<AdaptiveReport> adaptive;
  std::vector<PhaseReport> phases;  // only when the scenario has overrides, signals or a queue
  std::vector<std::uint64_t> admitted_per_second;  // by second of true time
  // Hard limits (enforcement = "hard"): the (key, window) pairs in which some node admitted,
  // grouped by the window each admitting node counted in, and those in which the cluster admitted
  // more than the most generous limit in force at those admissions (the checker allows none).
  std::uint64_t hard_windows = 0;
  std::uint64_t hard_violations = 0;
  std::string first_hard_violation;
  bool safety_ok = true;
  bool liveness_ok = true;
  // Counts never inflated: no origin counted more than it admitted, no node held more for an
  // origin than it counted (the sampled keys).
  bool counts_ok = true;
  std::uint64_t count_violations = 0;
  std::string first_count_violation;
  double wall_seconds = 0;  // how long the run took (not part of the deterministic output)
};

RunResult run_simulation(const Scenario& scenario);

}  // namespace drl::sim
