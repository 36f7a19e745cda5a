// The simulated network: for each datagram, whether it arrives, how many times, and when.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/random.hpp"
#include "sim/scenario.hpp"

namespace drl::sim {

struct NetworkStats {
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;
  std::uint64_t partitioned = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t corrupted = 0;
};

class Network {
 public:
  Network(const Scenario& scenario, Random random);

  // The delivery delays (nanoseconds) of a datagram sent at `now_ns` from `from` to `to`:
  // empty if it is lost or cut, two entries if duplicated.
  std::vector<std::int64_t> route(std::int64_t now_ns, int from, int to);
  // With the link's corrupt probability, changes one byte of a copy about to be delivered.
  // Draws nothing when the probability is 0, so that scenarios without corruption keep their
  // draws.
  void maybe_corrupt(std::string& bytes);

  // True if a partition separates `from` from `to` at `now_ns`.
  bool cut(std::int64_t now_ns, int from, int to) const;
  // How many sides the cluster is split into at `now_ns` (1 when whole).
  int sides(std::int64_t now_ns) const;
  // How many sides `phase` splits `nodes` into (a one-way cut: 2).
  static int sides_of(const PartitionPhase& phase, int nodes);

  const NetworkStats& stats() const { return stats_; }

 private:
  std::int64_t delay_ns();

  const Scenario& scenario_;
  Random random_;
  NetworkStats stats_;
};

}  // namespace drl::sim
