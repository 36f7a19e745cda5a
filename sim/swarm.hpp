// Swarm testing: many seeds, each with its own randomized cluster, network faults, crashes,
// clock skew and workload, all checked for safety and liveness.
#pragma once

#include <cstdint>
#include <string>

#include "sim/scenario.hpp"

namespace drl::sim {

// The scenario the swarm runs for `seed` (the same seed always gives the same scenario).
Scenario swarm_scenario(std::uint64_t seed);

// A one-line description of a swarm scenario's faults.
std::string describe(const Scenario& scenario);

}  // namespace drl::sim
