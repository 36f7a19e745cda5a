// What the protocol guarantees, as the bounds the simulator's oracles hold a run to
// (docs/simulation.md, "The checks"): how far a saturated window may exceed its limit, and how
// long after a moment every live node holds what any live node held then. Each is derived
// from the scenario's settings and faults, so that a node that breaks the protocol breaks it.
#pragma once

#include <cstdint>

#include "sim/scenario.hpp"

namespace drl::sim {

// The smallest k with P(X > k) < 1e-6 for X ~ Poisson(mean): the excess of a window is a
// count of arrivals in a staleness interval, so its tail is Poisson's, not a multiple of its
// mean.
double poisson_tail_bound(double mean);

// One (key, window) of a limit, as the safety oracle closes it.
struct SaturatedWindow {
  double peak_rate_per_s = 0;  // the key's highest offered rate
  double limit = 0;            // the most generous limit any node had in force in the window
  std::int64_t start_ns = 0;   // true time
  std::int64_t end_ns = 0;
};

// The most `window` may exceed its limit by, in requests.
double excess_bound(const Scenario& scenario, const SaturatedWindow& window);

// Whether the scenario's nodes send counts through key owners (dissemination "owners", or
// "auto" with enough nodes): the bound then has the owner mode's terms.
bool uses_owners(const Scenario& scenario);

// How long after `at_s` every live node holds what any live node held then; `records` is how
// many counter slots a full anti-entropy sweep may carry, `probe_ms` the granularity of the
// measurement (added to the bound).
double convergence_bound_ms(const Scenario& scenario, double records, double at_s, double probe_ms);

}  // namespace drl::sim
