#include "sim/swarm.hpp"

#include <algorithm>
#include <cstdio>

#include "config/config.hpp"
#include "sim/random.hpp"

namespace drl::sim {

namespace {

// A rolling change of the members: node 0 joins or leaves (node 0, so that --break-node breaks
// the node that joins), and every other node restarts with the new list before the traffic
// stops at 8 s.
void add_members_change(Scenario& s, Random& random) {
  constexpr int changed = 0;
  const bool grow = random.chance(0.5);
  const double first_s = random.uniform(0.5, 2.5);
  // The others restart from 1.5 to 2.5 s later: past clock_skew_max (1 s), so that the windows
  // in which node 0 has a share (a node broken not to wait would take it) overlap the others'.
  const double restarts_s = first_s + random.uniform(1.5, 2.5);
  const double gap_s =
      std::min(random.uniform(0.3, 1.0), (7.5 - restarts_s) / static_cast<double>(s.nodes - 1));
  std::vector<int> without;
  for (int n = 1; n < s.nodes; ++n) without.push_back(n);
  if (grow) {
    s.crashes.push_back(CrashEvent{changed, 0, first_s, false});
  } else {
    s.crashes.push_back(CrashEvent{changed, first_s, -1, true});
  }
  for (int n = 1; n < s.nodes; ++n) {
    const double restart_s = restarts_s + gap_s * static_cast<double>(n - 1);
    if (grow) s.members.push_back(NodeMembers{n, 0, without});
    // The new list from this node's stop on (the restart is a new life, whatever rounding its
    // time gets). A grown list is every node's.
    std::vector<int> next = without;
    if (grow) next.insert(next.begin(), changed);
    s.members.push_back(NodeMembers{n, restart_s - 0.05, next});
    s.crashes.push_back(CrashEvent{n, restart_s - 0.05, 0.05, true});
  }
}

}  // namespace

Scenario swarm_scenario(std::uint64_t seed) {
  Random random(seed ^ 0x5157'4152'4d00ULL);
  Scenario s;
  s.name = "swarm";
  s.seed = seed;
  s.nodes = 3 + static_cast<int>(random.below(5));
  s.duration_s = 12;
  s.convergence_sample_keys = 16;
  config::ClusterSettings& c = s.cluster;
  c.enabled = true;
  c.gossip_interval_ms = 1 + random.below(20);
  c.heartbeat_interval_ms = 100 + random.below(200);
  c.suspect_after_ms = c.heartbeat_interval_ms * 4;
  c.down_after_ms = c.suspect_after_ms * 2;
  c.repair_interval_ms = 20 + random.below(100);
  c.partition_policy =
      random.chance(0.5) ? core::PartitionPolicy::proportional : core::PartitionPolicy::optimistic;
  s.authenticated = random.chance(0.5);

  s.link.latency_ms = random.uniform(0.05, 8.0);
  s.link.jitter_ms = random.chance(0.7) ? random.uniform(0.0, 5.0) : 0.0;
  s.link.loss = random.chance(0.6) ? random.uniform(0.0, 0.2) : 0.0;
  s.link.duplicate = random.chance(0.4) ? random.uniform(0.0, 0.05) : 0.0;

  if (random.chance(0.5)) {
    PartitionPhase phase;
    phase.start_s = random.uniform(1.0, 4.0);
    phase.end_s = phase.start_s + random.uniform(0.5, 3.0);
    if (random.chance(0.25)) {
      phase.one_way = true;
      phase.from = {static_cast<int>(random.below(static_cast<std::uint64_t>(s.nodes)))};
      for (int n = 0; n < s.nodes; ++n) {
        if (n != phase.from.front()) phase.to.push_back(n);
      }
    } else {
      const int sides = 2 + static_cast<int>(random.below(2));
      phase.groups.assign(static_cast<std::size_t>(sides), {});
      for (int n = 0; n < s.nodes; ++n) {
        // Every side gets one node first, then nodes go anywhere.
        const int side =
            n < sides ? n : static_cast<int>(random.below(static_cast<std::uint64_t>(sides)));
        phase.groups[static_cast<std::size_t>(side)].push_back(n);
      }
    }
    s.partitions.push_back(std::move(phase));
  }
  if (random.chance(0.4)) {
    CrashEvent crash;
    crash.node = static_cast<int>(random.below(static_cast<std::uint64_t>(s.nodes)));
    crash.at_s = random.uniform(1.0, 5.0);
    crash.restart_after_s = random.uniform(0.2, 2.0);
    // Half of them clean stops (from the draw above: later draws stay where they were).
    crash.leave = crash.restart_after_s < 1.1;
    s.crashes.push_back(crash);
  }
  if (random.chance(0.5)) {
    for (int n = 0; n < s.nodes; ++n) {
      s.clocks.push_back(NodeClock{n, random.uniform(-20.0, 20.0), random.uniform(-100.0, 100.0)});
    }
  }

  Workload& w = s.workload;
  w.keys = 1 + random.below(20);
  w.distribution = random.chance(0.3) ? "zipf" : "uniform";
  w.zipf_exponent = random.uniform(0.8, 1.5);
  w.offered = random.uniform(1.2, 6.0);
  const char* spreads[] = {"round_robin", "random", "sticky"};
  w.spread = spreads[random.below(3)];
  w.sticky_share = random.uniform(0.5, 1.0);
  w.arrivals = random.chance(0.8) ? "poisson" : "even";
  w.stop_s = 8.0;
  if (random.chance(0.2)) w.attack_offered = random.uniform(5.0, 30.0);
  if (random.chance(0.2)) w.bursts.push_back(Burst{2.0, 3.0, random.uniform(2.0, 5.0)});

  const std::uint64_t limit = 20 + random.below(180);
  const char* algorithm = random.chance(0.5) ? "sliding" : "fixed";
  const auto policy_text = [limit](std::string_view rule_algorithm, std::string_view enforcement) {
    return "[[policy]]\nname = \"api\"\nlimit = " + std::to_string(limit) +
           "\nwindow = \"1s\"\nalgorithm = \"" + std::string(rule_algorithm) +
           "\"\nenforcement = \"" + std::string(enforcement) + "\"\n";
  };
  s.policies = config::parse_config(policy_text(algorithm, "approximate"), "swarm")->policies;
  w.policy = "api";

  // A runtime override on some seeds (drawn last, so that the draws above stay as they were):
  // set on one node, sometimes cleared on another before its TTL.
  if (random.chance(0.4)) {
    OverrideEvent set;
    set.at_s = random.uniform(1.0, 6.0);
    set.node = static_cast<int>(random.below(static_cast<std::uint64_t>(s.nodes)));
    set.scope.policy = "api";
    if (random.chance(0.5)) {
      set.kind = core::OverrideKind::factor;
      set.value = 200 + random.below(1300);  // 0.2 to 1.5 times the limit
    } else {
      set.kind = core::OverrideKind::limit;
      set.value = 1 + random.below(2 * limit);
    }
    set.ttl_s = random.uniform(0.5, 4.0);
    set.reason = "swarm";
    s.overrides.push_back(set);
    if (random.chance(0.3)) {
      OverrideEvent clear;
      clear.clear = true;
      clear.at_s = set.at_s + random.uniform(0.1, set.ttl_s);
      clear.node = static_cast<int>(random.below(static_cast<std::uint64_t>(s.nodes)));
      clear.scope = set.scope;
      s.overrides.push_back(clear);
    }
  }
  // Corrupted datagrams on some seeds (drawn after the override, for the same reason): every
  // node must refuse them, and they cost what a loss costs.
  if (random.chance(0.3)) s.link.corrupt = random.uniform(0.0, 0.05);
  // Key pressure on some seeds: a flood of one-off keys into stores sized by the rule of
  // docs/operations.md ("Memory of a cluster"): room in every shard for the workload's keys with
  // a slot for every origin, not for the flood. Every node evicts all the time while the faults
  // above happen; the flood is what goes.
  if (random.chance(0.25)) {
    s.max_keys = 16 * (w.keys + 1) * static_cast<std::uint64_t>(s.nodes) * (1 + random.below(4));
    w.flood_per_s = random.uniform(100.0, 3000.0);
  }
  // Per-key control on some seeds (drawn last, for the same reason): one key's limit, factor or
  // block, or a reset of it, set on one node; the oracle holds that key to its own bound.
  if (random.chance(0.3)) {
    OverrideEvent event;
    event.at_s = random.uniform(1.0, 6.0);
    event.node = static_cast<int>(random.below(static_cast<std::uint64_t>(s.nodes)));
    event.scope.policy = "api";
    event.scope.key = "k" + std::to_string(random.below(w.keys));
    event.ttl_s = random.uniform(0.5, 4.0);
    event.reason = "swarm";
    switch (random.below(4)) {
      case 0:
        event.kind = core::OverrideKind::limit;
        event.value = 1 + random.below(2 * limit);
        break;
      case 1:
        event.kind = core::OverrideKind::factor;
        event.value = 200 + random.below(1800);
        break;
      case 2:
        event.kind = core::OverrideKind::block;
        break;
      default:
        event.reset = true;
        event.kind = core::OverrideKind::reset;
        event.scope.counts_reset = true;
        event.ttl_s = 0;
        break;
    }
    s.overrides.push_back(event);
  }
  // Larger clusters on some seeds (drawn last, for the same reason): 10 to 24 nodes, all started
  // at once under load, as in cold-start-20.toml (a start-up sync that served one waiting peer
  // per repair round went unseen with 3 to 7 nodes). The nodes added take part in the faults
  // drawn above as the others: a side of each partition, a clock of their own, room in a
  // flooded store.
  if (random.chance(0.1)) {
    const int drawn = s.nodes;
    s.nodes = 10 + static_cast<int>(random.below(15));
    for (int n = drawn; n < s.nodes; ++n) {
      for (PartitionPhase& phase : s.partitions) {
        if (phase.one_way) {
          phase.to.push_back(n);
        } else {
          phase.groups[random.below(phase.groups.size())].push_back(n);
        }
      }
      if (!s.clocks.empty()) {
        s.clocks.push_back(
            NodeClock{n, random.uniform(-20.0, 20.0), random.uniform(-100.0, 100.0)});
      }
    }
    if (w.flood_per_s > 0)
      s.max_keys =
          s.max_keys / static_cast<std::uint64_t>(drawn) * static_cast<std::uint64_t>(s.nodes);
  }
  // Hard limits on some seeds (drawn last, for the same reason): the same limit with
  // enforcement = "hard", in fixed windows; the checker then allows no window above the limit
  // in force, under every fault drawn above. The clocks drawn stay well within the default
  // clock_skew_max of 1 s.
  if (random.chance(0.25)) {
    s.policies = config::parse_config(policy_text("fixed", "hard"), "swarm")->policies;
    // On a third of those, a change of the members by rolling restarts, as replication.md
    // ("Changing the members") says to make one: node 0 joins (starts listing every node, the
    // others listing all but it) or leaves (stops cleanly, the others then list all but it);
    // then each other node restarts with the new list, one after the other.
    if (random.chance(1.0 / 3.0)) add_members_change(s, random);
    // On half of them, checks short of rights wait for a grant, 1 to 20 ms (drawn after the
    // change of the members, for the same reason).
    if (random.chance(0.5)) {
      const std::string wait =
          "rights_wait_max = \"" + std::to_string(1 + random.below(20)) + "ms\"\n";
      s.policies = config::parse_config(policy_text("fixed", "hard") + wait, "swarm")->policies;
    }
  }
  // Counts through key owners on some seeds (drawn last, for the same reason): the same faults,
  // with the owner mode's terms in the bound (oracle_bounds.cpp).
  if (random.chance(0.25)) s.cluster.dissemination = core::Dissemination::owners;
  return s;
}

std::string describe(const Scenario& s) {
  char text[640];
  std::snprintf(
      text, sizeof text,
      "%d nodes, gossip %llums, latency %.2f+%.2fms, loss %.1f%%, dup %.1f%%, corrupt %.1f%%, "
      "%zu partitions, "
      "%zu crashes, %s clocks, %s, %s, %llu keys x%.1f %s, %zu override writes, max_keys %llu, "
      "flood %.0f/s, %s limit%s%s, %s",
      s.nodes, static_cast<unsigned long long>(s.cluster.gossip_interval_ms), s.link.latency_ms,
      s.link.jitter_ms, 100 * s.link.loss, 100 * s.link.duplicate, 100 * s.link.corrupt,
      s.partitions.size(), s.crashes.size(), s.clocks.empty() ? "true" : "skewed",
      std::string(core::partition_policy_name(s.cluster.partition_policy)).c_str(),
      s.authenticated ? "authenticated" : "checksummed",
      static_cast<unsigned long long>(s.workload.keys), s.workload.offered,
      s.workload.spread.c_str(), s.overrides.size(), static_cast<unsigned long long>(s.max_keys),
      s.workload.flood_per_s,
      std::string(core::enforcement_name(s.policies->policies().front().enforcement)).c_str(),
      s.members.empty() ? "" : ", members changed by rolling restarts",
      s.policies->policies().front().rights_wait_max_ms > 0 ? ", checks wait for grants" : "",
      std::string(core::dissemination_name(s.cluster.dissemination)).c_str());
  return text;
}

}  // namespace drl::sim
