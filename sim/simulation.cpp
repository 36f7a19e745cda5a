#include "sim/simulation.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <queue>
#include <tuple>

#include "core/counter_id.hpp"
#include "core/duration.hpp"
#include "sim/limit_change_driver.hpp"
#include "sim/network.hpp"
#include "sim/random.hpp"
#include "sim/sim_node.hpp"
#include "sim/workload.hpp"
#include "wire/cluster_codec.hpp"

namespace drl::sim {
namespace {

constexpr std::int64_t kNsPerMs = 1'000'000;

enum class EventKind : std::uint8_t {
  timer,
  deliver,
  crash,
  restart,
  settle,
  probe,
  override_write,  // index: the [[override]]
  load_sample,     // every LimitChangeDriver::kSampleIntervalNs
  audit,           // every kAuditIntervalNs: the counts oracle
};

// How often every node's counts of the sampled keys are compared with what their origins
// counted (also at each convergence measurement and at the end).
constexpr std::int64_t kAuditIntervalNs = 1'000'000'000;

struct Event {
  std::int64_t at_ns = 0;
  std::uint64_t sequence = 0;  // ties broken by scheduling order: deterministic
  EventKind kind = EventKind::timer;
  int node = 0;
  int from = 0;
  std::uint64_t generation = 0;
  std::string bytes;
  int index = 0;  // restart: the crash; settle/probe: the convergence measurement
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return std::tie(a.at_ns, a.sequence) > std::tie(b.at_ns, b.sequence);
  }
};

// Accounting of one limit over aligned windows of true time.
struct LimitTrack {
  const core::LimitRule* rule = nullptr;
  std::uint64_t window_ms = 0;
  // The largest limit any node (or the exact limiter) had in force during the window: with
  // overrides and adaptive factors the limit moves, and a window is held to the most generous
  // limit anyone applied in it.
  std::uint64_t window_limit = 0;
  std::int64_t window = -1;
  std::vector<std::uint32_t> offered, admitted, exact;
  std::vector<std::uint64_t> touched;  // keys offered in this window
  std::vector<double> overshoots;      // % of the limit, per saturated (key, window)
  LimitReport report;
};

// The smallest k with P(X > k) < 1e-6 for X ~ Poisson(mean): the excess of a window is a
// count of arrivals in a staleness interval, so its tail is Poisson's, not a multiple of its
// mean.
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

// (counter, node id, incarnation, window) -> count: what the nodes know of a set of counters.
using Slots =
    std::map<std::tuple<std::uint64_t, std::string, std::uint64_t, std::uint64_t>, std::uint32_t>;

class Simulation {
 public:
  explicit Simulation(const Scenario& scenario)
      : s_(scenario),
        random_(scenario.seed),
        network_(scenario, random_.fork(1)),
        reference_store_(core::StoreOptions{scenario.max_keys, 16, false}),
        reference_(reference_store_, 0, nullptr),
        dynamic_(scenario),
        inspector_(codec_options(scenario)) {
    const core::Policy& policy = *s_.policies->find(s_.workload.policy);
    core::ResolvedLimit resolved[bounds::limits_per_item_max];
    const core::Resolution resolution =
        core::resolve(policy, s_.workload.tier, s_.workload.endpoint, resolved);
    for (std::size_t i = 0; i < resolution.count; ++i) {
      LimitTrack track;
      track.rule = resolved[i].rule;
      track.window_ms = resolved[i].rule->window_ms;
      track.report.limit = resolved[i].rule->limit;
      track.window_limit = resolved[i].rule->limit;
      track.report.window_ms = resolved[i].rule->window_ms;
      track.report.label = policy.name +
                           (resolved[i].scope.empty() ? "" : " " + std::string(resolved[i].scope)) +
                           " " + std::to_string(resolved[i].rule->limit) + "/" +
                           core::format_duration_ms(resolved[i].rule->window_ms) + " " +
                           std::string(core::algorithm_name(resolved[i].rule->algorithm));
      limits_.push_back(std::move(track));
    }
    workload_ = std::make_unique<WorkloadGenerator>(
        s_, random_.fork(2), limits_.front().report.limit, limits_.front().window_ms);
    for (LimitTrack& track : limits_) {
      track.offered.assign(workload_->key_count(), 0);
      track.admitted.assign(workload_->key_count(), 0);
      track.exact.assign(workload_->key_count(), 0);
    }
    clocks_.assign(static_cast<std::size_t>(s_.nodes), NodeClock{});
    for (const NodeClock& clock : s_.clocks) clocks_[static_cast<std::size_t>(clock.node)] = clock;
    for (int i = 0; i < s_.nodes; ++i) {
      nodes_.push_back(
          std::make_unique<SimNode>(i, s_, 0, clocks_[i].offset_ms, clocks_[i].drift_ppm));
      alive_.push_back(true);
      broken_.push_back(broken_kinds(s_, i));
    }
    for (std::size_t c = 0; c < s_.crashes.size(); ++c) {
      const CrashEvent& crash = s_.crashes[c];
      push(Event{
          seconds(crash.at_s), 0, EventKind::crash, crash.node, 0, 0, {}, static_cast<int>(c)});
      if (crash.restart_after_s >= 0) {
        push(Event{seconds(crash.at_s + crash.restart_after_s),
                   0,
                   EventKind::restart,
                   crash.node,
                   0,
                   0,
                   {},
                   static_cast<int>(c)});
      }
    }
    for (std::size_t o = 0; o < s_.overrides.size(); ++o) {
      push(Event{seconds(s_.overrides[o].at_s),
                 0,
                 EventKind::override_write,
                 s_.overrides[o].node,
                 0,
                 0,
                 {},
                 static_cast<int>(o)});
    }
    if (dynamic_.enabled()) push(Event{0, 0, EventKind::load_sample, 0, 0, 0, {}, 0});
    push(Event{kAuditIntervalNs, 0, EventKind::audit, 0, 0, 0, {}, 0});
    plan_convergence();
    focus_ = workload_->attack_key() != UINT64_MAX ? workload_->attack_key() : 0;
    result_.focus_key = workload_->key_name(focus_);
  }

  RunResult run() {
    const auto started = std::chrono::steady_clock::now();
    result_.scenario = s_.name;
    result_.seed = s_.seed;
    result_.nodes = s_.nodes;
    result_.duration_s = s_.duration_s;
    const std::int64_t end_ns = seconds(s_.duration_s);
    for (int i = 0; i < s_.nodes; ++i) arm(i, 0);
    std::optional<Arrival> arrival = workload_->next();
    for (;;) {
      const std::int64_t next_event = events_.empty() ? INT64_MAX : events_.top().at_ns;
      const std::int64_t next_arrival = arrival ? arrival->time_ns : INT64_MAX;
      const std::int64_t at = std::min(next_event, next_arrival);
      if (at > end_ns) break;
      if (next_arrival <= next_event) {
        check(*arrival);
        arrival = workload_->next();
      } else {
        // The queue's top is const only to protect the ordering; it is popped right away.
        Event event = std::move(const_cast<Event&>(events_.top()));
        events_.pop();
        handle(event);
      }
    }
    for (LimitTrack& track : limits_) close_window(track, end_ns);
    finish();
    result_.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return std::move(result_);
  }

 private:
  static std::int64_t seconds(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

  void push(Event event) {
    event.sequence = next_sequence_++;
    events_.push(std::move(event));
  }

  // --- the nodes -------------------------------------------------------------------------

  void arm(int i, std::int64_t now_ns) {
    SimNode& node = *nodes_[i];
    const std::int64_t at = std::max(now_ns, node.true_time_of(node.cluster().next_deadline()));
    if (at == node.timer_at_ns) return;
    node.timer_at_ns = at;
    ++node.timer_generation;
    push(Event{at, 0, EventKind::timer, i, 0, node.timer_generation, {}, 0});
  }

  void flush(int i, std::int64_t now_ns) {
    SimNode& node = *nodes_[i];
    for (wire::OutgoingDatagram& datagram : node.cluster().take_datagrams()) {
      const int to = index_of(datagram.address);
      if (to < 0) continue;
      if (is_broken(i, BrokenKind::drop_deltas) && is_delta(datagram.bytes)) {
        ++result_.datagrams_dropped_broken;
        continue;
      }
      const std::vector<std::int64_t> delays = network_.route(now_ns, i, to);
      for (std::size_t d = 0; d < delays.size(); ++d) {
        std::string bytes = d + 1 == delays.size() ? std::move(datagram.bytes) : datagram.bytes;
        network_.maybe_corrupt(bytes);
        push(Event{now_ns + delays[d], 0, EventKind::deliver, to, i, 0, std::move(bytes), 0});
      }
    }
    // As the daemon's driver does, at most every 20 ms: what the check path needs.
    if (node.published_at_ns >= 0 && now_ns - node.published_at_ns < 20 * kNsPerMs) return;
    node.published_at_ns = now_ns;
    const core::Replicator& replicator = node.cluster().replicator();
    node.signals().reachable_permille.store(replicator.reachable_permille(node.mono(now_ns)));
    node.signals().staleness_ms.store(replicator.staleness_ms(node.mono(now_ns)));
  }

  bool is_broken(int i, BrokenKind kind) const {
    const std::vector<BrokenKind>& kinds = broken_[static_cast<std::size_t>(i)];
    return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  }

  bool is_delta(std::string_view datagram) const {
    wire::DecodedDatagram decoded;
    wire::DropReason reason{};
    return inspector_.open(datagram, decoded, reason) &&
           decoded.message.type == core::MessageType::delta;
  }

  static int index_of(const std::string& address) {
    if (address.size() < 7 || address[0] != 'n') return -1;
    int value = 0;
    for (std::size_t i = 1; i < address.size() && address[i] != ':'; ++i) {
      if (address[i] < '0' || address[i] > '9') return -1;
      value = value * 10 + (address[i] - '0');
    }
    return value;
  }

  void handle(const Event& event) {
    switch (event.kind) {
      case EventKind::timer: {
        SimNode& node = *nodes_[event.node];
        if (!alive_[event.node] || event.generation != node.timer_generation) return;
        node.timer_at_ns = -1;
        node.cluster().on_timer(node.mono(event.at_ns), node.wall(event.at_ns));
        after_activity(event.node, event.at_ns);
        flush(event.node, event.at_ns);
        arm(event.node, event.at_ns);
        return;
      }
      case EventKind::deliver: {
        if (!alive_[event.node]) return;
        SimNode& node = *nodes_[event.node];
        node.cluster().on_datagram(node.mono(event.at_ns), node.wall(event.at_ns),
                                   node_address(event.from), event.bytes);
        after_activity(event.node, event.at_ns);
        flush(event.node, event.at_ns);
        arm(event.node, event.at_ns);
        return;
      }
      case EventKind::crash:
        if (!alive_[event.node]) return;
        retire_stats(*nodes_[event.node]);
        alive_[event.node] = false;
        ++nodes_[event.node]->timer_generation;
        return;
      case EventKind::restart: {
        if (alive_[event.node]) return;
        const NodeClock& clock = clocks_[event.node];
        nodes_[event.node] = std::make_unique<SimNode>(event.node, s_, event.at_ns, clock.offset_ms,
                                                       clock.drift_ppm);
        alive_[event.node] = true;
        after_activity(event.node, event.at_ns);
        arm(event.node, event.at_ns);
        return;
      }
      case EventKind::override_write: {
        SimNode* node = alive_[event.node] ? nodes_[event.node].get() : nullptr;
        dynamic_.write_override(static_cast<std::size_t>(event.index), node, event.at_ns);
        if (node == nullptr) return;
        after_activity(event.node, event.at_ns);
        flush(event.node, event.at_ns);
        arm(event.node, event.at_ns);
        return;
      }
      case EventKind::load_sample:
        dynamic_.sample(event.at_ns, nodes_, alive_);
        for (int i = 0; i < s_.nodes; ++i) {
          if (alive_[i]) after_activity(i, event.at_ns);
        }
        note_limits(dynamic_.reference_policies());
        push(Event{event.at_ns + LimitChangeDriver::kSampleIntervalNs,
                   0,
                   EventKind::load_sample,
                   0,
                   0,
                   0,
                   {},
                   0});
        return;
      case EventKind::audit:
        audit_counts(event.at_ns);
        push(Event{event.at_ns + kAuditIntervalNs, 0, EventKind::audit, 0, 0, 0, {}, 0});
        return;
      case EventKind::settle:
        audit_counts(event.at_ns);
        start_measurement(event.index, event.at_ns);
        return;
      case EventKind::probe:
        probe(event.index, event.at_ns);
        return;
    }
  }

  // The node may have a new policy set (an override arrived or expired, a factor moved).
  void after_activity(int i, std::int64_t now_ns) {
    if (dynamic_.after_activity(i, *nodes_[i], now_ns, alive_)) note_limits(nodes_[i]->policies());
  }

  // The limits `policies` gives the workload's checks, one per tracked limit (matched by
  // counter: an adjusted rule counts on the same counter as the configured one).
  std::vector<std::uint64_t> limits_in(const core::PolicySet& policies) const {
    std::vector<std::uint64_t> out;
    const core::Policy* policy = policies.find(s_.workload.policy);
    core::ResolvedLimit resolved[bounds::limits_per_item_max];
    const core::Resolution resolution =
        policy == nullptr
            ? core::Resolution{}
            : core::resolve(*policy, s_.workload.tier, s_.workload.endpoint, resolved);
    for (const LimitTrack& track : limits_) {
      std::uint64_t limit = track.report.limit;
      for (std::size_t i = 0; i < resolution.count; ++i) {
        if (resolved[i].rule->counter_seed == track.rule->counter_seed)
          limit = resolved[i].rule->limit;
      }
      out.push_back(limit);
    }
    return out;
  }

  void note_limits(const core::PolicySet& policies) {
    const std::vector<std::uint64_t> limits = limits_in(policies);
    for (std::size_t l = 0; l < limits_.size(); ++l)
      limits_[l].window_limit = std::max(limits_[l].window_limit, limits[l]);
  }

  void add_store_stats(SimNode& node) {
    const core::StoreStats stats = node.store().stats();
    result_.keys_evicted += stats.evictions;
    result_.origin_slots_exhausted += stats.origin_slots_exhausted;
    result_.floors_applied += stats.floors_applied;
  }

  void retire_stats(SimNode& node) {
    add_store_stats(node);
    retired_datagrams_ += node.cluster().stats().sent;
    retired_bytes_ += node.cluster().stats().sent_bytes;
    for (std::uint64_t dropped : node.cluster().stats().dropped) retired_dropped_ += dropped;
  }

  // --- checks ----------------------------------------------------------------------------

  // A check on a key never seen before: it fills the stores (and, through the gossip, the
  // peers' stores) so that they evict. Not tracked: only the workload's keys are held to bounds.
  void flood_check(const Arrival& arrival) {
    const int node_index = workload_->choose_node(flood_key, alive_);
    SimNode& node = *nodes_[node_index];
    const std::string key = "f" + std::to_string(arrival.flood_sequence);
    const core::CheckItem item{s_.workload.policy, key, s_.workload.tier, s_.workload.endpoint, 1};
    node.engine().check(node.policies(), node.wall(arrival.time_ns), std::span(&item, 1), outcome_);
    ++result_.flood_checks;
  }

  void check(const Arrival& arrival) {
    if (arrival.key == flood_key) {
      flood_check(arrival);
      return;
    }
    const int node_index = workload_->choose_node(arrival.key, alive_);
    SimNode& node = *nodes_[node_index];
    // A double-counting node charges each request twice; the truth below counts it once.
    const std::uint64_t cost = is_broken(node_index, BrokenKind::double_count) ? 2 : 1;
    const core::CheckItem item{s_.workload.policy, workload_->key_name(arrival.key),
                               s_.workload.tier, s_.workload.endpoint, cost};
    node.engine().check(node.policies(), node.wall(arrival.time_ns), std::span(&item, 1), outcome_);
    const bool admitted = outcome_.allowed;
    if (admitted && is_sampled(arrival.key)) note_own_counts(node, arrival);
    reference_.check(dynamic_.reference_policies(),
                     core::WallTime{kEpochUnixMs + arrival.time_ns / kNsPerMs}, std::span(&item, 1),
                     outcome_);
    const bool exact = outcome_.allowed;
    dynamic_.on_check(arrival.time_ns, admitted);
    ++result_.checks;
    result_.admitted += admitted;
    result_.exact_admitted += exact;
    result_.false_rejects += exact && !admitted;
    result_.false_admits += admitted && !exact;
    for (std::size_t l = 0; l < limits_.size(); ++l) {
      LimitTrack& track = limits_[l];
      const std::int64_t window =
          (kEpochUnixMs + arrival.time_ns / kNsPerMs) / static_cast<std::int64_t>(track.window_ms);
      if (window != track.window) {
        close_window(track, arrival.time_ns);
        track.window = window;
      }
      if (track.offered[arrival.key] == 0) track.touched.push_back(arrival.key);
      ++track.offered[arrival.key];
      track.admitted[arrival.key] += admitted;
      track.exact[arrival.key] += exact;
      if (l == 0) {
        if (row_.admitted_by_node.empty())
          row_.admitted_by_node.assign(static_cast<std::size_t>(s_.nodes), 0);
        row_.admitted_by_node[static_cast<std::size_t>(node_index)] += admitted;
      }
    }
  }

  void close_window(LimitTrack& track, std::int64_t) {
    if (track.window < 0) return;
    const bool first = &track == &limits_.front();
    const std::int64_t start_ns =
        (track.window * static_cast<std::int64_t>(track.window_ms) - kEpochUnixMs) * kNsPerMs;
    const std::int64_t end_ns = start_ns + static_cast<std::int64_t>(track.window_ms) * kNsPerMs;
    const std::uint64_t window_limit = track.window_limit;
    const auto limit = static_cast<double>(window_limit);
    for (std::uint64_t key : track.touched) {
      if (first) {
        row_.offered += track.offered[key];
        row_.admitted += track.admitted[key];
        row_.exact += track.exact[key];
        row_.limit_total += window_limit;
        if (key == focus_) {
          row_.focus_offered = track.offered[key];
          row_.focus_admitted = track.admitted[key];
          row_.focus_exact = track.exact[key];
        }
      }
      if (track.offered[key] > window_limit) {
        const double excess = std::max(0.0, static_cast<double>(track.admitted[key]) - limit);
        const double percent = 100.0 * excess / limit;
        track.overshoots.push_back(percent);
        ++track.report.windows;
        if (excess > 0) ++track.report.windows_over;
        const double bound = excess_bound(key, track, start_ns, end_ns);
        track.report.bound_percent = std::max(track.report.bound_percent, 100.0 * bound / limit);
        if (excess > bound) {
          ++track.report.violations;
          if (track.report.first_violation.empty()) {
            track.report.first_violation =
                "window at " + format_seconds(start_ns) + ", key " + workload_->key_name(key) +
                ": admitted " + std::to_string(track.admitted[key]) + " (exact " +
                std::to_string(track.exact[key]) + ") against limit " +
                std::to_string(window_limit) + " and bound +" + format_number(bound);
          }
        }
      }
      track.offered[key] = track.admitted[key] = track.exact[key] = 0;
    }
    track.touched.clear();
    if (dynamic_.enabled()) reset_window_limit(track);
    if (first) {
      row_.start_s = static_cast<double>(start_ns) / 1e9;
      row_.limit = window_limit;
      if (row_.admitted_by_node.empty())
        row_.admitted_by_node.assign(static_cast<std::size_t>(s_.nodes), 0);
      result_.timeline.push_back(row_);
      row_ = TimelineRow{};
    }
  }

  // A new window starts with the limits in force now.
  void reset_window_limit(LimitTrack& track) const {
    const auto l = static_cast<std::size_t>(&track - limits_.data());
    track.window_limit = limits_in(dynamic_.reference_policies())[l];
    for (int i = 0; i < s_.nodes; ++i) {
      if (alive_[i])
        track.window_limit = std::max(track.window_limit, limits_in(nodes_[i]->policies())[l]);
    }
  }

  // The most a window may exceed its limit by, in requests (docs/simulation.md).
  double excess_bound(std::uint64_t key, const LimitTrack& track, std::int64_t start_ns,
                      std::int64_t end_ns) const {
    const auto limit = static_cast<double>(track.window_limit);
    if (s_.checks.overshoot_max_percent >= 0)
      return limit * s_.checks.overshoot_max_percent / 100.0;
    const config::ClusterSettings& c = s_.cluster;
    const double rate = workload_->peak_rate(key);
    const double n = s_.nodes;
    // Others see an admission after the next gossip round and the network; ms granularity of
    // the timers; loss makes a delta late by rounds.
    const double delay_s =
        (static_cast<double>(c.gossip_interval_ms) + s_.link.latency_ms + s_.link.jitter_ms + 2.0) /
        1000.0 / std::max(0.05, 1.0 - s_.link.loss);
    double model = rate * delay_s * (n - 1) / n;
    // At the limit nodes stop admitting, so a key's last delta is not followed by another: if
    // both its copies are lost (delta and resend), a peer misses it until anti-entropy, and may
    // admit that much more. Each of the n-1 senders' last rounds is missing with p^2.
    const double gossip_s = static_cast<double>(c.gossip_interval_ms) / 1000.0;
    model += (n - 1) * s_.link.loss * s_.link.loss * std::max(1.0, rate * gossip_s / n);
    // Skewed clocks put window boundaries elsewhere.
    double skew_s = 0;
    for (const NodeClock& clock : clocks_) {
      skew_s = std::max(skew_s, std::abs(clock.offset_ms) / 1000.0 +
                                    std::abs(clock.drift_ppm) * 1e-6 * s_.duration_s);
    }
    model += rate * skew_s;
    // A restarted node counts alone until its peers sent it their counts.
    const double sync_s = (static_cast<double>(c.heartbeat_interval_ms) +
                           static_cast<double>(c.repair_interval_ms) * (n + 1) +
                           s_.link.latency_ms + s_.link.jitter_ms) /
                          1000.0 / std::max(0.05, 1.0 - s_.link.loss);
    for (const CrashEvent& crash : s_.crashes) {
      if (crash.restart_after_s < 0) continue;
      const std::int64_t back = seconds(crash.at_s + crash.restart_after_s);
      if (back < end_ns && back + seconds(sync_s) > start_ns) model += rate * sync_s;
    }
    // Partitions: each side counts only what it sees. Under the optimistic policy, a heal does
    // not end that at once: peers marked down get deltas again only once heard (a heartbeat).
    double partition = 0;
    const std::int64_t blind_after_heal = static_cast<std::int64_t>(
        (static_cast<double>(c.heartbeat_interval_ms) + s_.link.latency_ms + s_.link.jitter_ms +
         1.0) /
        std::max(0.05, 1.0 - s_.link.loss) * static_cast<double>(kNsPerMs));
    // Peers count as unreachable once suspect: states are updated every heartbeat interval.
    const std::int64_t detection = (static_cast<std::int64_t>(c.suspect_after_ms) +
                                    static_cast<std::int64_t>(c.heartbeat_interval_ms)) *
                                   kNsPerMs;
    int sides = 1;
    bool undetected = false;
    for (const PartitionPhase& phase : s_.partitions) {
      const std::int64_t from = seconds(phase.start_s);
      const std::int64_t to = seconds(phase.end_s);
      const bool healing = to <= start_ns && to + blind_after_heal > start_ns;
      if (healing && c.partition_policy != core::PartitionPolicy::proportional) {
        sides = std::max(sides, Network::sides_of(phase, s_.nodes));
        undetected = true;
        continue;
      }
      if (from >= end_ns || to <= start_ns) continue;
      sides = std::max(sides, Network::sides_of(phase, s_.nodes));
      if (start_ns < from + detection) undetected = true;
    }
    if (sides > 1) {
      const bool proportional = c.partition_policy == core::PartitionPolicy::proportional;
      // Proportional shares apply once the other side is suspect; until then, and always
      // under the optimistic policy, each side may admit a whole limit.
      partition = proportional && !undetected ? (sides - 1) : (sides - 1) * limit;
    }
    return poisson_tail_bound(model) + partition + 1.0;
  }

  // --- convergence -----------------------------------------------------------------------

  struct Measurement {
    Convergence report;
    std::int64_t at_ns = 0;
    std::int64_t bound_ns = 0;
    Slots truth;
    bool open = false;
  };

  // The time between two probes of a convergence measurement.
  std::int64_t probe_step_ns() const {
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(s_.cluster.gossip_interval_ms)) *
           kNsPerMs * (s_.nodes > 100 ? 10 : 1);
  }

  // How long after `at_s` every live node holds what any live node held then, as the protocol
  // guarantees it (docs/simulation.md, "Convergence"), plus the probes' granularity.
  double convergence_bound_ms(double at_s) const {
    const config::ClusterSettings& c = s_.cluster;
    const double n = s_.nodes;
    const double network_ms = s_.link.latency_ms + s_.link.jitter_ms;
    const double probe_ms = static_cast<double>(probe_step_ns()) / kNsPerMs;
    const double gossip_ms = static_cast<double>(c.gossip_interval_ms);
    bool faults_before = false;
    for (const PartitionPhase& phase : s_.partitions) faults_before |= phase.start_s < at_s;
    for (const CrashEvent& crash : s_.crashes) faults_before |= crash.at_s < at_s;
    const double loss = 1.0 - (1.0 - s_.link.loss) * (1.0 - s_.link.corrupt);
    // Nothing lost and every peer alive: a changed count goes to every peer in the next gossip
    // round (timers have millisecond granularity).
    if (!faults_before && loss == 0) return gossip_ms + network_ms + 1.0 + probe_ms;
    // Otherwise anti-entropy: a peer marked down is alive again once a heartbeat arrives (a
    // restarted node then asks for a full sync with its next one); each node sends each live
    // peer in turn, one every repair interval, a slice of its whole store, and `sweeps` slices
    // cover it. A lost slice comes back one sweep later: `turns` sweeps make a loss of every
    // copy of some slice unlikely (below 1e-3 over all pairs).
    const double records =
        static_cast<double>(std::min<std::uint64_t>(workload_->key_count(), 1'000'000)) *
        static_cast<double>(limits_.size()) * (n + static_cast<double>(s_.crashes.size())) * 2.0;
    const double sweeps =
        std::max(1.0, std::ceil(records / static_cast<double>(c.repair_updates_per_interval)));
    double turns = 1;
    if (loss > 0) {
      turns = std::max(1.0, std::ceil(std::log(1e-3 / (n * n * sweeps)) / std::log(loss)));
    }
    const double heard_ms = 2.0 * static_cast<double>(c.heartbeat_interval_ms) + network_ms;
    const double sweep_ms =
        sweeps * std::max(1.0, n - 1) * static_cast<double>(c.repair_interval_ms);
    return turns * (heard_ms + sweep_ms) + static_cast<double>(c.repair_interval_ms) + network_ms +
           gossip_ms + 1.0 + probe_ms;
  }

  void plan_convergence() {
    const auto plan = [&](double at_s, std::string what) {
      const double bound_ms = s_.checks.converge_within_ms >= 0 ? s_.checks.converge_within_ms
                                                                : convergence_bound_ms(at_s);
      Measurement m;
      m.report.after = std::move(what);
      m.report.at_s = at_s;
      m.report.bound_ms = bound_ms;
      m.at_ns = seconds(at_s);
      m.bound_ns = static_cast<std::int64_t>(bound_ms * kNsPerMs);
      // Skip moments when faults are still under way: there is nothing to converge to yet.
      for (const PartitionPhase& phase : s_.partitions) {
        if (at_s >= phase.start_s && at_s < phase.end_s) return;
        if (phase.start_s > at_s && phase.start_s < at_s + bound_ms / 1000.0) return;
      }
      for (const CrashEvent& crash : s_.crashes) {
        if (crash.at_s > at_s && crash.at_s < at_s + bound_ms / 1000.0) return;
      }
      measurements_.push_back(std::move(m));
    };
    if (s_.workload.stop_s < s_.duration_s) {
      plan(s_.workload.stop_s, "traffic stop at " + format_number(s_.workload.stop_s) + "s");
    }
    for (const PartitionPhase& phase : s_.partitions) {
      if (phase.end_s < s_.duration_s)
        plan(phase.end_s, "heal at " + format_number(phase.end_s) + "s");
    }
    for (const CrashEvent& crash : s_.crashes) {
      if (crash.restart_after_s < 0) continue;
      const double back = crash.at_s + crash.restart_after_s;
      if (back < s_.duration_s) {
        plan(back,
             "restart of n" + std::to_string(crash.node) + " at " + format_number(back) + "s");
      }
    }
    for (std::size_t i = 0; i < measurements_.size(); ++i) {
      push(Event{measurements_[i].at_ns, 0, EventKind::settle, 0, 0, 0, {}, static_cast<int>(i)});
    }
  }

  // The keys whose counters the convergence and counts oracles compare across nodes: the first
  // convergence_sample_keys, and the attacked key.
  std::uint64_t sampled_keys() const {
    return std::min<std::uint64_t>(
        s_.workload.keys, static_cast<std::uint64_t>(std::max(1, s_.convergence_sample_keys)));
  }
  bool is_sampled(std::uint64_t key) const {
    return key < sampled_keys() || key == workload_->attack_key();
  }

  std::vector<std::uint64_t> sample_counters() const {
    std::vector<std::uint64_t> ids;
    const std::uint64_t keys = sampled_keys();
    std::vector<std::uint64_t> sample;
    for (std::uint64_t k = 0; k < keys; ++k) sample.push_back(k);
    if (workload_->attack_key() != UINT64_MAX) sample.push_back(workload_->attack_key());
    for (std::uint64_t key : sample) {
      for (const LimitTrack& track : limits_) {
        ids.push_back(core::counter_id(track.rule->counter_seed, workload_->key_name(key)));
      }
    }
    return ids;
  }

  std::uint64_t window_ms_of(std::size_t counter_index) const {
    return limits_[counter_index % limits_.size()].rule->window_ms;
  }

  // What node `i` holds of counters `ids`; `newest`, if given, gets each counter's newest window
  // there (a peer whose clock is ahead may have moved it past the node's own).
  Slots slots_of(int i, std::int64_t now_ns, const std::vector<std::uint64_t>& ids,
                 std::map<std::uint64_t, std::uint64_t>* newest = nullptr) {
    SimNode& node = *nodes_[i];
    Slots out;
    for (std::size_t c = 0; c < ids.size(); ++c) {
      const std::uint64_t id = ids[c];
      const std::uint64_t lock_ids[] = {id};
      auto locked = node.store().lock(lock_ids);
      for (const core::OriginCounts& slot :
           locked.origins(id, window_ms_of(c), node.wall(now_ns))) {
        if (newest != nullptr) (*newest)[id] = slot.window_id;
        const std::optional<core::Origin> origin = node.origins().origin_at(slot.origin);
        if (!origin) continue;
        if (slot.current != 0)
          out[{id, origin->node_id, origin->incarnation, slot.window_id}] = slot.current;
        if (slot.previous != 0) {
          out[{id, origin->node_id, origin->incarnation, slot.window_id - 1}] = slot.previous;
        }
      }
    }
    return out;
  }

  void start_measurement(int index, std::int64_t now_ns) {
    Measurement& m = measurements_[static_cast<std::size_t>(index)];
    const std::vector<std::uint64_t> ids = sample_counters();
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      for (const auto& [slot, count] : slots_of(i, now_ns, ids)) {
        std::uint32_t& best = m.truth[slot];
        best = std::max(best, count);
      }
    }
    m.open = true;
    probe(index, now_ns);
  }

  // True if node `i` holds at least the truth, for every window it still keeps.
  bool dominates(int i, std::int64_t now_ns, const Slots& truth,
                 const std::vector<std::uint64_t>& ids) {
    std::map<std::uint64_t, std::uint64_t> newest;
    const Slots mine = slots_of(i, now_ns, ids, &newest);
    SimNode& node = *nodes_[i];
    for (const auto& [slot, count] : truth) {
      const auto& [id, node_id, incarnation, window] = slot;
      std::int64_t window_ms = 0;
      for (std::size_t c = 0; c < ids.size(); ++c) {
        if (ids[c] == id) window_ms = static_cast<std::int64_t>(window_ms_of(c));
      }
      std::int64_t kept_from = node.wall(now_ns).unix_ms / window_ms - 1;
      if (const auto it = newest.find(id); it != newest.end())
        kept_from = std::max(kept_from, static_cast<std::int64_t>(it->second) - 1);
      if (static_cast<std::int64_t>(window) < kept_from) continue;  // no longer kept
      const auto it = mine.find(slot);
      if (it == mine.end() || it->second < count) return false;
    }
    return true;
  }

  void probe(int index, std::int64_t now_ns) {
    Measurement& m = measurements_[static_cast<std::size_t>(index)];
    if (!m.open) return;
    const std::vector<std::uint64_t> ids = sample_counters();
    bool all = true;
    for (int i = 0; i < s_.nodes && all; ++i) {
      if (alive_[i]) all = dominates(i, now_ns, m.truth, ids);
    }
    if (all) {
      m.report.took_ms = static_cast<double>(now_ns - m.at_ns) / kNsPerMs;
      m.open = false;
      return;
    }
    push(Event{now_ns + probe_step_ns(), 0, EventKind::probe, 0, 0, 0, {}, index});
  }

  // --- counts ----------------------------------------------------------------------------
  // Counts are never inflated: what an origin counted for a counter is at most what it
  // admitted (each admission counts once), and no node holds more for an origin's slot than that
  // origin counted there, whatever the network lost, duplicated, reordered or corrupted. A node
  // that counts twice, merges by adding or invents a count breaks it; the overshoot bound would
  // not see either (too high a count only denies more).

  using OriginKey = std::tuple<std::uint64_t, std::string, std::uint64_t>;  // id, node, inc

  // After `node` admitted a sampled key: its own slots for the key's counters, as counted.
  void note_own_counts(SimNode& node, const Arrival& arrival) {
    const std::string& key = workload_->key_name(arrival.key);
    for (const LimitTrack& track : limits_) {
      const std::uint64_t id = core::counter_id(track.rule->counter_seed, key);
      const OriginKey origin{id, node.id(), node.incarnation()};
      const std::uint64_t admitted = ++admitted_by_origin_[origin];
      std::uint64_t& counted = counted_by_origin_[origin];
      const std::uint64_t lock_ids[] = {id};
      auto locked = node.store().lock(lock_ids);
      for (const core::OriginCounts& slot :
           locked.origins(id, track.window_ms, node.wall(arrival.time_ns))) {
        if (slot.origin != core::OriginTable::local_index) continue;
        const auto note = [&](std::uint64_t window, std::uint32_t count) {
          std::uint32_t& best = own_counts_[{id, node.id(), node.incarnation(), window}];
          if (count <= best) return;
          counted += count - best;
          best = count;
        };
        note(slot.window_id, slot.current);
        note(slot.window_id - 1, slot.previous);
      }
      if (counted > admitted) {
        count_violation(node.id() + " counted " + std::to_string(counted) + " for key " + key +
                        " at " + format_seconds(arrival.time_ns) + " but admitted it " +
                        std::to_string(admitted) + " times");
      }
    }
  }

  // Every live node's slots of the sampled counters against what their origins counted.
  void audit_counts(std::int64_t now_ns) {
    const std::vector<std::uint64_t> ids = sample_counters();
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      for (const auto& [slot, count] : slots_of(i, now_ns, ids)) {
        const auto it = own_counts_.find(slot);
        const std::uint32_t counted = it == own_counts_.end() ? 0 : it->second;
        if (count <= counted) continue;
        const auto& [id, node_id, incarnation, window] = slot;
        count_violation(nodes_[i]->id() + " held " + std::to_string(count) + " for " + node_id +
                        "'s count of counter " + std::to_string(id) + " in window " +
                        std::to_string(window) + " at " + format_seconds(now_ns) + ", where " +
                        node_id + " counted " + std::to_string(counted));
      }
    }
  }

  void count_violation(std::string what) {
    ++result_.count_violations;
    result_.counts_ok = false;
    if (result_.first_count_violation.empty()) result_.first_count_violation = std::move(what);
  }

  // --- results ---------------------------------------------------------------------------

  void finish() {
    audit_counts(seconds(s_.duration_s));
    for (LimitTrack& track : limits_) {
      std::vector<double>& values = track.overshoots;
      std::sort(values.begin(), values.end());
      if (!values.empty()) {
        track.report.overshoot_max_percent = values.back();
        track.report.overshoot_p99_percent =
            values[std::min(values.size() - 1, static_cast<std::size_t>(0.99 * values.size()))];
        double sum = 0;
        for (double v : values) sum += v;
        track.report.overshoot_mean_percent = sum / static_cast<double>(values.size());
      }
      if (track.report.violations > 0) result_.safety_ok = false;
      result_.limits.push_back(track.report);
    }
    const std::int64_t end_ns = seconds(s_.duration_s);
    for (Measurement& m : measurements_) {
      if (m.open) {
        m.report.took_ms = -1;
        m.report.measured = end_ns - m.at_ns >= m.bound_ns;
      }
      if (m.report.measured && (m.report.took_ms < 0 || m.report.took_ms > m.report.bound_ms)) {
        result_.liveness_ok = false;
      }
      result_.convergence.push_back(m.report);
    }
    std::uint64_t datagrams = retired_datagrams_;
    std::uint64_t bytes = retired_bytes_;
    std::uint64_t dropped = retired_dropped_;
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      add_store_stats(*nodes_[i]);
      datagrams += nodes_[i]->cluster().stats().sent;
      bytes += nodes_[i]->cluster().stats().sent_bytes;
      for (std::uint64_t d : nodes_[i]->cluster().stats().dropped) dropped += d;
    }
    dynamic_.finish(result_);
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      const core::Replicator& replicator = nodes_[i]->cluster().replicator();
      result_.updates_sent += replicator.stats().updates_sent;
      for (const core::PeerStatus& peer : replicator.peers(nodes_[i]->mono(end_ns))) {
        if (peer.state == core::PeerState::alive && peer.rtt_us >= 0) {
          result_.max_clock_offset_ms = std::max(
              result_.max_clock_offset_ms, std::abs(static_cast<double>(peer.clock_offset_ms)));
        }
      }
    }
    result_.datagrams_per_node_per_s = static_cast<double>(datagrams) / s_.nodes / s_.duration_s;
    result_.bytes_per_node_per_s = static_cast<double>(bytes) / s_.nodes / s_.duration_s;
    result_.datagrams_lost = network_.stats().lost;
    result_.datagrams_cut = network_.stats().partitioned;
    result_.datagrams_dropped_by_nodes = dropped;
    result_.datagrams_corrupted = network_.stats().corrupted;
  }

  static std::string format_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3g", value);
    return text;
  }

  static std::string format_seconds(std::int64_t ns) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(ns) / 1e9);
    return text;
  }

  const Scenario& s_;
  Random random_;
  Network network_;
  std::unique_ptr<WorkloadGenerator> workload_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::vector<bool> alive_;
  std::vector<NodeClock> clocks_;
  core::CounterStore reference_store_;
  core::CheckEngine reference_;
  core::CheckOutcome outcome_;
  LimitChangeDriver dynamic_;
  wire::ClusterCodec inspector_;                 // opens a broken node's datagrams
  std::vector<std::vector<BrokenKind>> broken_;  // per node: what [[broken_node]] breaks
  std::vector<LimitTrack> limits_;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::uint64_t next_sequence_ = 0;
  std::vector<Measurement> measurements_;
  std::uint64_t focus_ = 0;
  TimelineRow row_;
  std::uint64_t retired_datagrams_ = 0;
  std::uint64_t retired_bytes_ = 0;
  std::uint64_t retired_dropped_ = 0;
  // The counts oracle, for the sampled keys: admissions and own counts per origin incarnation,
  // and each origin's own count per window (the most it ever held there).
  std::map<OriginKey, std::uint64_t> admitted_by_origin_;
  std::map<OriginKey, std::uint64_t> counted_by_origin_;
  Slots own_counts_;
  RunResult result_;
};

}  // namespace

RunResult run_simulation(const Scenario& scenario) {
  return Simulation(scenario).run();
}

}  // namespace drl::sim
