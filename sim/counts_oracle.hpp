// The counts oracle: counts are never inflated. What an origin counted for a counter is at most
// what it admitted (each admission counts once), and no node holds more for an origin's slot
// than that origin counted there, whatever the network lost, duplicated, reordered or
// corrupted. A node that counts twice, merges by adding or invents a count breaks it; the
// safety oracle would not see either (too high a count only denies more).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "sim/sampled_slots.hpp"
#include "sim/sim_node.hpp"

namespace drl::sim {

class CountsOracle {
 public:
  // After `node` admitted a check on `key` (one of the sampled keys) counted on `counter`, at
  // true time `now_ns`: reads the node's own slots of the counter.
  void on_admitted(SimNode& node, const SampledCounter& counter, const std::string& key,
                   std::int64_t now_ns);
  // What node `holder` holds of the sampled counters against what their origins counted.
  void audit(const std::string& holder, const Slots& held, std::int64_t now_ns);

  std::uint64_t violations() const { return violations_; }
  const std::string& first_violation() const { return first_violation_; }

 private:
  using OriginKey = std::tuple<std::uint64_t, std::string, std::uint64_t>;  // id, node, inc

  void violation(std::string what);

  std::map<OriginKey, std::uint64_t> admitted_by_origin_;
  std::map<OriginKey, std::uint64_t> counted_by_origin_;
  // Each origin's own count per window: the most it ever held there.
  Slots own_counts_;
  std::uint64_t violations_ = 0;
  std::string first_violation_;
};

}  // namespace drl::sim
