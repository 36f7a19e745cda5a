#include "sim/oracle_bounds.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "config/replication_settings.hpp"
#include "core/bounds.hpp"
#include "sim/network.hpp"
#include "sim/run_time.hpp"

namespace drl::sim {

double poisson_tail_bound(double mean) {
  if (mean <= 0) return 0;
  if (mean > 200) return mean + 5.0 * std::sqrt(mean) + 5.0;  // normal approximation
  double term = std::exp(-mean);
  double cumulative = term;
  double k = 0;
  while (1.0 - cumulative > 1e-6 && k < 10'000) {
    k += 1;
    term *= mean / k;
    cumulative += term;
  }
  return k;
}

bool uses_owners(const Scenario& scenario) {
  switch (scenario.cluster.dissemination) {
    case core::Dissemination::owners:
      return true;
    case core::Dissemination::mesh:
      return false;
    case core::Dissemination::automatic:
      return static_cast<std::size_t>(scenario.nodes) >= bounds::owners_from_members;
  }
  return false;
}

double excess_bound(const Scenario& scenario, const SaturatedWindow& window) {
  const double limit = window.limit;
  if (scenario.checks.overshoot_max_percent >= 0)
    return limit * scenario.checks.overshoot_max_percent / 100.0;
  const config::ClusterSettings& c = scenario.cluster;
  const double rate = window.peak_rate_per_s;
  const double n = scenario.nodes;
  // Others see an admission after the next gossip round and the network; ms granularity of
  // the timers; loss makes a delta late by rounds.
  const double delivered = std::max(0.05, 1.0 - scenario.link.loss);
  const bool owners = uses_owners(scenario);
  // Through key owners (docs/replication.md, "Key owners"): two hops, the owner's forward
  // within a quarter of a round, and each hop lost on its own.
  const double hops_ms = owners
                             ? static_cast<double>(c.gossip_interval_ms) * 1.25 +
                                   2.0 * (scenario.link.latency_ms + scenario.link.jitter_ms) + 3.0
                             : static_cast<double>(c.gossip_interval_ms) +
                                   scenario.link.latency_ms + scenario.link.jitter_ms + 2.0;
  const double delay_s = hops_ms / 1000.0 / (owners ? delivered * delivered : delivered);
  double model = rate * delay_s * (n - 1) / n;
  // A node that starts counting a key (its first check there since the window before last, or
  // since it started) has no owners' total yet: its first check there waits for the owners'
  // answer (totals_wait_max), and when that wait runs out (a request or its answer lost, an
  // owner down, or not an owner yet in the asker's view while the members change) its first
  // admission is blind to the window's count: one per other node.
  if (owners) model += n - 1;
  // At the limit nodes stop admitting, so a key's last delta is not followed by another: if
  // both its copies are lost (delta and resend), a peer misses it until anti-entropy, and may
  // admit that much more. Each of the n-1 senders' last rounds is missing with p^2.
  const double gossip_s = static_cast<double>(c.gossip_interval_ms) / 1000.0;
  model += (n - 1) * scenario.link.loss * scenario.link.loss * std::max(1.0, rate * gossip_s / n);
  // Skewed clocks put window boundaries elsewhere.
  double skew_s = 0;
  for (const NodeClock& clock : scenario.clocks) {
    skew_s = std::max(skew_s, std::abs(clock.offset_ms) / 1000.0 +
                                  std::abs(clock.drift_ppm) * 1e-6 * scenario.duration_s);
  }
  model += rate * skew_s;
  // A restarted node holds its answers until a peer's full sync arrives, for at most
  // warmup_max (core/warmup.hpp); if the sync takes longer, it counts alone for the rest.
  const double sync_s = (static_cast<double>(c.heartbeat_interval_ms) +
                         static_cast<double>(c.repair_interval_ms) * (n + 1) +
                         scenario.link.latency_ms + scenario.link.jitter_ms) /
                        1000.0 / std::max(0.05, 1.0 - scenario.link.loss);
  const double warmup_s = static_cast<double>(c.warmup_max_ms) / 1000.0;
  const double unsynced_s = std::max(0.0, sync_s - warmup_s);
  for (const CrashEvent& crash : scenario.crashes) {
    if (crash.restart_after_s < 0 || unsynced_s == 0) continue;
    const std::int64_t back = run_ns(crash.at_s + crash.restart_after_s);
    if (back + run_ns(warmup_s) < window.end_ns && back + run_ns(sync_s) > window.start_ns)
      model += rate * unsynced_s;
  }
  // Through owners a starting node waits for the full sync of every peer on its ring (each
  // sends the totals of the keys it owns). When datagrams are lost that may take past
  // warmup_max: the node then decides what it held without the totals it lacks, up to all the
  // checks that came meanwhile (docs/replication.md, "Key owners").
  if (owners && (scenario.link.loss > 0 || scenario.link.corrupt > 0)) {
    std::vector<double> starts{0.0};
    for (const CrashEvent& crash : scenario.crashes) {
      if (crash.restart_after_s >= 0) starts.push_back(crash.at_s + crash.restart_after_s);
    }
    for (double start_s : starts) {
      const std::int64_t from = run_ns(start_s);
      if (from < window.end_ns && from + run_ns(warmup_s + sync_s) > window.start_ns) {
        model += rate * (warmup_s + unsynced_s);
      }
    }
  }
  // Partitions: each side counts only what it sees. Under the optimistic policy, a heal does
  // not end that at once: peers marked down get deltas again only once heard (a heartbeat).
  double partition = 0;
  const std::int64_t blind_after_heal = static_cast<std::int64_t>(
      (static_cast<double>(c.heartbeat_interval_ms) + scenario.link.latency_ms +
       scenario.link.jitter_ms + 1.0) /
      std::max(0.05, 1.0 - scenario.link.loss) * static_cast<double>(ns_per_ms));
  // When a partition begins, each side keeps the whole limit until it has found the other side
  // unreachable. Under the proportional policy that takes unreachable_after (the last
  // acknowledgement came at most then), plus the 20 ms between publications of the share to
  // the check path and a millisecond of timer lateness; the optimistic policy never scales.
  const bool proportional = c.partition_policy == core::PartitionPolicy::proportional;
  const std::int64_t detection =
      static_cast<std::int64_t>(config::unreachable_after_ms(c) + 20 + 1) * ns_per_ms;
  int sides = 1;
  bool undetected = false;
  for (const PartitionPhase& phase : scenario.partitions) {
    const std::int64_t from = run_ns(phase.start_s);
    const std::int64_t to = run_ns(phase.end_s);
    const bool healing = to <= window.start_ns && to + blind_after_heal > window.start_ns;
    if (healing && !proportional) {
      sides = std::max(sides, Network::sides_of(phase, scenario.nodes));
      undetected = true;
      continue;
    }
    if (from >= window.end_ns || to <= window.start_ns) continue;
    sides = std::max(sides, Network::sides_of(phase, scenario.nodes));
    if (window.start_ns < from + detection) undetected = true;
  }
  if (sides > 1 && owners && undetected) {
    // Through owners, until the ring leaves the other side out (unreachable_after), a node
    // whose keys' owners are on the other side counts alone: what arrived meanwhile may all be
    // admitted, on top of what each side may admit.
    model += rate * static_cast<double>(detection) / 1e9;
  }
  if (sides > 1 && proportional && undetected) {
    // Until then every side admits against the whole limit, blind to the others' admissions
    // since the cut; from then on against its share, which its own admissions already count.
    // So the window exceeds the limit by at most what arrived in the detection time (and never
    // more than a whole limit per extra side), plus one per side for the shares' rounding.
    const double blind = rate * static_cast<double>(detection) / 1e9;
    return std::min(poisson_tail_bound(model + blind),
                    poisson_tail_bound(model) + (sides - 1) * limit) +
           sides + 1.0;
  }
  if (sides > 1) {
    // Proportional shares, once found, add up to at most one limit (rounding: one per side);
    // under the optimistic policy each side may admit a whole limit.
    partition = proportional ? (sides - 1) : (sides - 1) * limit;
  }
  return poisson_tail_bound(model) + partition + 1.0;
}

double convergence_bound_ms(const Scenario& scenario, double records, double at_s,
                            double probe_ms) {
  const config::ClusterSettings& c = scenario.cluster;
  const double n = scenario.nodes;
  const double network_ms = scenario.link.latency_ms + scenario.link.jitter_ms;
  const double gossip_ms = static_cast<double>(c.gossip_interval_ms);
  bool faults_before = false;
  for (const PartitionPhase& phase : scenario.partitions) faults_before |= phase.start_s < at_s;
  for (const CrashEvent& crash : scenario.crashes) faults_before |= crash.at_s < at_s;
  const double loss = 1.0 - (1.0 - scenario.link.loss) * (1.0 - scenario.link.corrupt);
  // Nothing lost and every peer alive: a changed count goes to every peer in the next gossip
  // round (timers have millisecond granularity); through owners, to the owners in that round,
  // and from them within a quarter of a round.
  if (!faults_before && loss == 0) {
    return uses_owners(scenario) ? 1.25 * gossip_ms + 2.0 * network_ms + 2.0 + probe_ms
                                 : gossip_ms + network_ms + 1.0 + probe_ms;
  }
  // Otherwise anti-entropy: a peer marked down is alive again once a heartbeat arrives (a
  // restarted node then asks for a full sync with its next one); each node sends each live
  // peer in turn, one every repair interval, a slice of its whole store, and `sweeps` slices
  // cover it. A lost slice comes back one sweep later: `turns` sweeps make a loss of every
  // copy of some slice unlikely (below 1e-3 over all pairs).
  const double sweeps =
      std::max(1.0, std::ceil(records / static_cast<double>(c.repair_updates_per_interval)));
  double turns = 1;
  if (loss > 0) {
    turns = std::max(1.0, std::ceil(std::log(1e-3 / (n * n * sweeps)) / std::log(loss)));
  }
  const double heard_ms = 2.0 * static_cast<double>(c.heartbeat_interval_ms) + network_ms;
  const double sweep_ms = sweeps * std::max(1.0, n - 1) * static_cast<double>(c.repair_interval_ms);
  return turns * (heard_ms + sweep_ms) + static_cast<double>(c.repair_interval_ms) + network_ms +
         gossip_ms + 1.0 + probe_ms;
}

}  // namespace drl::sim
