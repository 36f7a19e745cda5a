// What nodes hold of a sample of counters, slot by slot (origin incarnation and window): what
// the convergence and counts oracles compare across nodes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "sim/sim_node.hpp"

namespace drl::sim {

// (counter, node id, incarnation, window) -> count.
using Slots =
    std::map<std::tuple<std::uint64_t, std::string, std::uint64_t, std::uint64_t>, std::uint32_t>;

struct SampledCounter {
  std::uint64_t id = 0;
  std::uint64_t window_ms = 0;
};

// What `node` holds of `counters` at true time `now_ns`; `newest`, if given, gets each
// counter's newest window there (a peer whose clock is ahead may have moved it past the node's
// own).
Slots slots_of(SimNode& node, std::int64_t now_ns, const std::vector<SampledCounter>& counters,
               std::map<std::uint64_t, std::uint64_t>* newest = nullptr);

// True if `node` holds at least `truth`, for every window it still keeps.
bool dominates(SimNode& node, std::int64_t now_ns, const Slots& truth,
               const std::vector<SampledCounter>& counters);

// Through key owners, where a node holds its own slot and the owners' total rather than every
// origin's: true if each counter `node` counted in the current or the previous window reads at
// least the sum of `truth` in those windows.
bool holds_totals(SimNode& node, std::int64_t now_ns, const Slots& truth,
                  const std::vector<SampledCounter>& counters);

}  // namespace drl::sim
