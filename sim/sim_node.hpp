// One simulated node: the real counter store, check engine and cluster node (replication logic
// and datagram codec), with its own clock: wall and monotonic time are true time, drifted and
// (wall only) offset.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "sim/scenario.hpp"
#include "wire/cluster_node.hpp"

namespace drl::sim {

// True time: nanoseconds since the start of the run. Wall clocks start here (a fixed date, so
// that runs are reproducible): 2027-01-15T08:00:00Z.
inline constexpr std::int64_t kEpochUnixMs = 1'800'000'000'000;

std::string node_address(int index);

class SimNode {
 public:
  SimNode(int index, const Scenario& scenario, std::int64_t started_ns, double offset_ms,
          double drift_ppm);

  core::MonoTime mono(std::int64_t true_ns) const;
  core::WallTime wall(std::int64_t true_ns) const;
  // The earliest true time at which mono() reaches `deadline`.
  std::int64_t true_time_of(core::MonoTime deadline) const;

  int index() const { return index_; }
  const std::string& id() const { return id_; }
  std::uint64_t incarnation() const { return incarnation_; }
  core::CounterStore& store() { return store_; }
  core::OriginTable& origins() { return origins_; }
  core::CheckEngine& engine() { return engine_; }
  wire::ClusterNode& cluster() { return *cluster_; }
  core::ClusterSignals& signals() { return signals_; }

  // Timers: the true time and generation of the armed timer (a new arm makes older ones stale).
  std::uint64_t timer_generation = 0;
  std::int64_t timer_at_ns = -1;
  std::int64_t published_at_ns = -1;  // when signals were last published (as the driver does)

 private:
  int index_;
  std::string id_;
  std::uint64_t incarnation_;
  double drift_;
  double offset_ms_;
  core::CounterStore store_;
  core::OriginTable origins_;
  core::ClusterSignals signals_;
  core::CheckEngine engine_;
  std::unique_ptr<wire::ClusterNode> cluster_;
};

}  // namespace drl::sim
