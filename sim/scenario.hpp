// A simulation scenario: the cluster, the network and its faults, the workload, and the
// bounds the run is checked against. Read from TOML (see docs/simulation.md), with
// command-line overrides.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/override_table.hpp"
#include "drl/result.hpp"

namespace drl::sim {

struct LinkModel {
  double latency_ms = 0.5;  // one-way base latency
  double jitter_ms = 0.0;   // plus a uniform extra in [0, jitter): also reorders datagrams
  double loss = 0.0;        // probability a datagram is lost
  double duplicate = 0.0;   // probability it is delivered twice
  double corrupt = 0.0;     // probability a delivered copy has one byte changed on the way
};

// Between start and end, datagrams between different groups are dropped (symmetric), or,
// for a one-way cut, datagrams from `from` to `to` are.
struct PartitionPhase {
  double start_s = 0;
  double end_s = 0;
  std::vector<std::vector<int>> groups;
  std::vector<int> from;
  std::vector<int> to;
  bool one_way = false;
};

struct CrashEvent {
  int node = 0;
  double at_s = 0;
  double restart_after_s = -1;  // < 0: never restarts
  // A clean stop instead of a crash: the node's final round (its last counts, then its leave)
  // goes out first, as drld's does at SIGTERM.
  bool leave = false;
};

// A node broken on purpose, to show that the run's checks catch what it breaks
// (docs/simulation.md, "Checking the checks"). The node runs the real code; the simulator breaks
// it from outside.
enum class BrokenKind : std::uint8_t {
  drop_deltas,    // its delta datagrams never leave it: peers learn its counts by repair only
  double_count,   // it counts every request it admits twice
  no_repair,      // its repair datagrams (anti-entropy, full syncs) never leave
  hard_alone,     // it takes every right of a hard limit, as if it were the only member
  hard_unagreed,  // it takes its shares without waiting for the other members to name its list
};
std::string_view broken_kind_name(BrokenKind kind);
std::optional<BrokenKind> parse_broken_kind(std::string_view name);

struct BrokenNode {
  int node = 0;
  BrokenKind kind = BrokenKind::drop_deltas;
};

// The members a node lists ([cluster] peers: the universe hard limits split rights among) in
// its lives that start at `from_s` or later; the latest such entry applies. Without one, every
// node of the scenario. A change of the members is a restart with another list.
struct NodeMembers {
  int node = 0;
  double from_s = 0;
  std::vector<int> members;
};

struct NodeClock {
  int node = 0;
  double offset_ms = 0;  // wall clock minus true time
  double drift_ppm = 0;  // both clocks run this much fast (negative: slow)
};

struct Burst {
  double start_s = 0;
  double end_s = 0;
  double factor = 1;
};

struct Workload {
  std::string policy;  // default: the first policy
  std::string tier;
  std::string endpoint;
  std::uint64_t keys = 10;
  std::string distribution = "uniform";  // or "zipf"
  double zipf_exponent = 1.0;
  double offered = 3.0;  // per key, as a multiple of its (first) limit, for uniform keys;
                         // for zipf, the total is keys x offered x limit spread by weight
  std::string spread = "round_robin";  // "random", "sticky"
  double sticky_share = 0.8;           // with sticky: share sent to the key's home node
  std::string arrivals = "poisson";    // or "even"
  double start_s = 0;
  double stop_s = -1;  // < 0: the scenario's duration
  std::vector<Burst> bursts;
  double attack_offered = 0;  // > 0: one more key, hammered on every node at this multiple
  // > 0: this many checks per second, each on a key never seen before ("f0", "f1", ...), round
  // robin over the nodes: key pressure that keeps the stores at max_keys and evicting.
  double flood_per_s = 0;
};

// An operator's `drl override set`, `drl override clear` or `drl key reset` on one node at a
// moment.
struct OverrideEvent {
  double at_s = 0;
  int node = 0;
  bool clear = false;
  bool reset = false;  // `drl key reset` of scope.key (scope.counts_reset is set)
  core::OverrideScope scope;
  core::OverrideKind kind = core::OverrideKind::factor;  // limit, factor or block (set only)
  std::uint64_t value = 0;                               // the limit, or the factor in 1/1000
  double ttl_s = 0;
  std::string reason;
};

// A step or ramp of a load signal: from `at`, the signal goes from the value it had then to
// `value`, linearly over `ramp_s` (0: at once). It feeds the adaptive policies whose signal is
// `name` or "reported:name".
struct SignalEvent {
  std::string name;
  int node = -1;  // < 0: every node
  double at_s = 0;
  double ramp_s = 0;
  double value = 0;
};

// Closed loop: a service behind the limiter that completes `service_rate` checks per second;
// every check the cluster admits joins its queue, and every node reports the queue's depth as
// the signal `signal`.
struct ServiceQueue {
  std::string signal;  // "" : none
  double service_rate = 0;
};

struct Checks {
  // Safety: admitted per window may exceed the limit by at most this (percent of the limit).
  // < 0: computed from the model (docs/simulation.md).
  double overshoot_max_percent = -1;
  // Liveness: after traffic stops or a partition heals, all nodes agree within this. < 0: derived.
  double converge_within_ms = -1;
  // An override set or cleared on one node is in force on every live node within this.
  // < 0: derived (docs/simulation.md).
  double override_within_ms = -1;
};

struct Scenario {
  std::string name = "unnamed";
  std::uint64_t seed = 1;
  int nodes = 3;
  double duration_s = 10;
  config::ClusterSettings cluster;  // timing and partition policy (bind/peers unused)
  bool authenticated = false;       // a cluster key (every node has it)
  LinkModel link;
  std::vector<PartitionPhase> partitions;
  std::vector<CrashEvent> crashes;
  std::vector<NodeClock> clocks;
  std::vector<BrokenNode> broken_nodes;
  std::vector<NodeMembers> members;
  Workload workload;
  std::vector<OverrideEvent> overrides;
  std::vector<SignalEvent> signals;
  ServiceQueue queue;
  Checks checks;
  std::shared_ptr<const core::PolicySet> policies;
  std::uint64_t max_keys = 1'000'000;
  int convergence_sample_keys = 64;  // keys compared across nodes for convergence
};

// The members node `node` lists in a life that starts at `started_s`.
std::vector<int> members_of(const Scenario& scenario, int node, double started_s);

// Parses a scenario file's text. `source_name` prefixes error messages.
Result<Scenario> parse_scenario(std::string_view text, std::string_view source_name);
// How drld's config parser reads a scenario: the scenario's own top-level keys left to the
// scenario parser, [cluster] bind optional. One list, also the config fuzz harness's.
config::ParseOptions scenario_parse_options();

// The built-in scenario used when no file is given: 3 nodes, no faults.
std::string default_scenario_text();

}  // namespace drl::sim
