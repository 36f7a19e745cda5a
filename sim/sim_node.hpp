// One simulated node: the real counter store, check engine and cluster node (replication logic
// and datagram codec), with its own clock: wall and monotonic time are true time, drifted and
// (wall only) offset. Its limits are dynamic the way drld's are, through the same
// core::LimitsInForce: an override table that travels in the gossip, one adaptive controller per
// adaptive policy, and the policy set in force derived from the configured one whenever either
// changes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "core/limits_in_force.hpp"
#include "core/origin_table.hpp"
#include "core/rights_waits.hpp"
#include "core/totals_requests.hpp"
#include "core/warmup.hpp"
#include "sim/run_time.hpp"
#include "sim/scenario.hpp"
#include "wire/cluster_node.hpp"

namespace drl::sim {

std::string node_address(int index);

// What every simulated node's codec uses: the scenario's datagram size, and its key when the
// scenario is authenticated.
wire::CodecOptions codec_options(const Scenario& scenario);

// The kinds of [[broken_node]] that `node` is (most scenarios: none).
std::vector<BrokenKind> broken_kinds(const Scenario& scenario, int node);

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
  const core::RightsLedger& rights() const { return rights_; }
  // The answers it merged, grants and owners' totals: a waiting check looks again when it moves.
  std::uint64_t answers_merged() const {
    return rights_.answers_merged() + totals_requests_.answers();
  }
  // Its checks that wait for a grant or for owners' totals, by drld's rule (the simulation parks
  // them).
  core::RightsWaits& rights_waits() { return rights_waits_; }
  wire::ClusterNode& cluster() { return *cluster_; }
  core::ClusterSignals& signals() { return signals_; }
  core::OverrideTable& overrides() { return limits_->table(); }
  const core::LimitsInForce& limits() const { return *limits_; }
  core::LimitsInForce& limits() { return *limits_; }

  // What checks use: the configured policies with the overrides and factors in force.
  const core::PolicySet& policies() const { return *limits_->policies(); }

  // Feeds every adaptive controller one sample at `true_ns` (drld samples every 100 ms).
  // `signal(name)` is the value reported for a law's signal name (see reported_name), or
  // nullopt when nothing is reported.
  void sample_load(std::int64_t true_ns,
                   const std::function<std::optional<double>(std::string_view)>& signal);
  // Expires overrides, and derives the policy set again if the override table moved or a
  // factor changed since the last time (as drld does). Returns true if it derived a new one.
  bool refresh_policies(std::int64_t true_ns);

  // The start-up hold, as drld's (core/warmup.hpp): marks it synced once a peer's full sync
  // has arrived, and says whether checks still wait at `true_ns`.
  bool holds_checks(std::int64_t true_ns);
  // When the hold runs out if no sync arrives (true time).
  std::int64_t warmup_deadline_ns() const { return true_time_of(warmup_.deadline()); }

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
  core::Warmup warmup_;
  core::CounterStore store_;
  core::OriginTable origins_;
  core::ClusterSignals signals_;
  core::RightsLedger rights_;  // the engine's and the replicator's
  core::RightsWaits rights_waits_;
  core::TotalsRequests totals_requests_;  // the engine's and the replicator's
  core::CheckEngine engine_;
  // Behind a pointer: its override table holds a mutex, and the replicator keeps its address.
  std::unique_ptr<core::LimitsInForce> limits_;
  std::unique_ptr<wire::ClusterNode> cluster_;
};

}  // namespace drl::sim
