#include "sim/simulation.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <queue>
#include <tuple>

#include "core/counter_id.hpp"
#include "core/duration.hpp"
#include "sim/counts_oracle.hpp"
#include "sim/limit_change_driver.hpp"
#include "sim/network.hpp"
#include "sim/oracle_bounds.hpp"
#include "sim/random.hpp"
#include "sim/run_time.hpp"
#include "sim/sampled_slots.hpp"
#include "sim/sim_node.hpp"
#include "sim/workload.hpp"
#include "wire/cluster_codec.hpp"

namespace drl::sim {
namespace {

enum class EventKind : std::uint8_t {
  timer,
  deliver,
  crash,
  restart,
  settle,
  probe,
  override_write,   // index: the [[override]]
  load_sample,      // every LimitChangeDriver::kSampleIntervalNs
  audit,            // every kAuditIntervalNs: the counts oracle
  warmup_end,       // a node's start-up hold runs out (if no sync came first)
  rights_wait_end,  // a check's wait for a grant (a hard limit's rights_wait_max) runs out
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

// A check of a hard limit waiting for a grant (core/rights_waits.hpp), as it arrived.
struct RightsWaiting {
  Arrival arrival;
  core::WaitingCheck wait;
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
  // Keys with key overrides or resets somewhere: the most generous limit applied to each in the
  // window, plus what a reset forgot of it (key_allowance). Other keys are held to window_limit.
  std::map<std::string, std::uint64_t, std::less<>> key_limits;
  std::int64_t window = -1;
  std::vector<std::uint32_t> offered, admitted, exact;
  std::vector<std::uint64_t> touched;  // keys offered in this window
  std::vector<double> overshoots;      // % of the limit, per saturated (key, window)
  LimitReport report;
};

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
      held_.emplace_back();
      rights_waits_.emplace_back();
      push(Event{nodes_.back()->warmup_deadline_ns(), 0, EventKind::warmup_end, i, 0, 0, {}, 0});
      broken_.push_back(broken_kinds(s_, i));
    }
    for (std::size_t c = 0; c < s_.crashes.size(); ++c) {
      const CrashEvent& crash = s_.crashes[c];
      push(Event{
          run_ns(crash.at_s), 0, EventKind::crash, crash.node, 0, 0, {}, static_cast<int>(c)});
      if (crash.restart_after_s >= 0) {
        push(Event{run_ns(crash.at_s + crash.restart_after_s),
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
      push(Event{run_ns(s_.overrides[o].at_s),
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
    const std::int64_t end_ns = run_ns(s_.duration_s);
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
      if ((is_broken(i, BrokenKind::drop_deltas) &&
           type_of(datagram.bytes) == core::MessageType::delta) ||
          (is_broken(i, BrokenKind::no_repair) &&
           type_of(datagram.bytes) == core::MessageType::repair)) {
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
    if (node.published_at_ns >= 0 && now_ns - node.published_at_ns < 20 * ns_per_ms) return;
    node.published_at_ns = now_ns;
    const core::Replicator& replicator = node.cluster().replicator();
    node.signals().reachable_permille.store(replicator.reachable_permille(node.mono(now_ns)));
    node.signals().staleness_ms.store(replicator.staleness_ms(node.mono(now_ns)));
  }

  bool is_broken(int i, BrokenKind kind) const {
    const std::vector<BrokenKind>& kinds = broken_[static_cast<std::size_t>(i)];
    return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
  }

  // What a datagram of a broken node carries (it is opened as its peers would).
  std::optional<core::MessageType> type_of(std::string_view datagram) const {
    wire::DecodedDatagram decoded;
    wire::DropReason reason{};
    if (!inspector_.open(datagram, decoded, reason)) return std::nullopt;
    return decoded.message.type;
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
        if (s_.crashes[static_cast<std::size_t>(event.index)].leave) {
          // A clean stop: what drld's driver does at SIGTERM, then the node is gone.
          SimNode& node = *nodes_[event.node];
          node.cluster().final_round(node.mono(event.at_ns), node.wall(event.at_ns));
          flush(event.node, event.at_ns);
        }
        retire_stats(*nodes_[event.node]);
        alive_[event.node] = false;
        ++nodes_[event.node]->timer_generation;
        held_[event.node].clear();  // their clients got an error
        // Their clients got an error.
        for (const RightsWaiting& parked : rights_waits_[static_cast<std::size_t>(event.node)])
          nodes_[event.node]->rights_waits().abandon(parked.wait);
        rights_waits_[static_cast<std::size_t>(event.node)].clear();
        return;
      case EventKind::restart: {
        if (alive_[event.node]) return;
        const NodeClock& clock = clocks_[event.node];
        nodes_[event.node] = std::make_unique<SimNode>(event.node, s_, event.at_ns, clock.offset_ms,
                                                       clock.drift_ppm);
        alive_[event.node] = true;
        push(Event{nodes_[event.node]->warmup_deadline_ns(),
                   0,
                   EventKind::warmup_end,
                   event.node,
                   0,
                   0,
                   {},
                   0});
        after_activity(event.node, event.at_ns);
        arm(event.node, event.at_ns);
        return;
      }
      case EventKind::warmup_end:
        if (alive_[event.node]) release_held(event.node, event.at_ns);
        return;
      case EventKind::rights_wait_end:
        if (alive_[event.node]) recheck_rights_waits(event.node, event.at_ns);
        return;
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
  // And its start-up hold may have ended (a peer's full sync arrived).
  void after_activity(int i, std::int64_t now_ns) {
    if (dynamic_.after_activity(i, *nodes_[i], now_ns, alive_)) note_limits(nodes_[i]->policies());
    release_held(i, now_ns);
    recheck_rights_waits(i, now_ns);
  }

  // Node `i`'s checks waiting for a grant look again once an answer to its requests for rights
  // was merged, as drld's waiting threads do, and are answered when admitted or when their wait
  // is over (denied).
  void recheck_rights_waits(int i, std::int64_t now_ns) {
    std::vector<RightsWaiting>& waiting = rights_waits_[static_cast<std::size_t>(i)];
    if (waiting.empty()) return;
    SimNode& node = *nodes_[i];
    std::vector<RightsWaiting> still;
    std::vector<RightsWaiting> current;
    current.swap(waiting);
    for (RightsWaiting& parked : current) {
      if (!parked.wait.looks_again(node.answers_merged(), node.mono(now_ns))) {
        still.push_back(parked);
        continue;
      }
      Arrival arrival = parked.arrival;
      arrival.time_ns = now_ns;
      decide(i, arrival, &parked);
    }
    for (RightsWaiting& wait : rights_waits_[static_cast<std::size_t>(i)]) still.push_back(wait);
    waiting.swap(still);
  }

  // Node `i` answers the checks it held since it started, once it no longer holds them: at
  // `now_ns`, in the order they came, as drld's waiting threads do.
  void release_held(int i, std::int64_t now_ns) {
    std::vector<Arrival>& held = held_[static_cast<std::size_t>(i)];
    if (nodes_[i]->holds_checks(now_ns) || held.empty()) return;
    std::vector<Arrival> released;
    released.swap(held);
    for (Arrival arrival : released) {
      ++result_.checks_held;
      result_.hold_max_ms =
          std::max(result_.hold_max_ms, static_cast<double>(now_ns - arrival.time_ns) / ns_per_ms);
      arrival.time_ns = now_ns;
      decide(i, arrival);
    }
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
    for (std::size_t l = 0; l < limits_.size(); ++l) {
      LimitTrack& track = limits_[l];
      track.window_limit = std::max(track.window_limit, limits[l]);
      const core::Policy* policy = policies.find(s_.workload.policy);
      if (policy == nullptr) continue;
      // A key whose control ended (expired, cleared) has the policy's limit from now on.
      for (auto& [key, allowance] : track.key_limits) {
        if (!policy->keys.contains(key)) allowance = std::max(allowance, limits[l]);
      }
      for (const auto& [key, control] : policy->keys) {
        // A key that gets its control mid-window had the policy's limit until then.
        const auto [it, fresh] = track.key_limits.emplace(key, track.window_limit);
        it->second = std::max(it->second, key_allowance(*policy, l, key, control, track.window));
      }
    }
  }

  // What `policy` lets `key` (which has key controls) have on limit `l` in `window`: the limit a
  // check of the key gets there (core::find_key_override, as the check engine applies it), plus
  // what its resets forgot of that window (with a sliding window, of the one before too).
  std::uint64_t key_allowance(const core::Policy& policy, std::size_t l, const std::string& key,
                              const core::KeyControl& control, std::int64_t window) const {
    const LimitTrack& track = limits_[l];
    core::ResolvedLimit resolved[bounds::limits_per_item_max];
    const core::Resolution resolution =
        core::resolve(policy, s_.workload.tier, s_.workload.endpoint, resolved);
    std::uint64_t allowance = track.report.limit;
    for (std::size_t i = 0; i < resolution.count; ++i) {
      const core::LimitRule& rule = *resolved[i].rule;
      if (rule.counter_seed != track.rule->counter_seed) continue;
      allowance = rule.limit;
      const core::KeyOverride* o =
          core::find_key_override(control, s_.workload.tier, resolved[i].scope, rule.window_ms);
      if (o != nullptr) {
        allowance = o->kind == core::OverrideKind::limit ? o->value
                    : o->kind == core::OverrideKind::factor
                        ? std::max<std::uint64_t>(1, rule.limit * o->value / 1000)
                        : 0;
      }
    }
    const std::uint64_t id = core::counter_id(track.rule->counter_seed, key);
    const bool sliding = track.rule->algorithm == core::Algorithm::sliding;
    const auto w = static_cast<std::uint64_t>(std::max<std::int64_t>(window, 0));
    for (const core::ResetMark& mark : control.resets) {
      if (mark.counter_id != id || mark.window_ms != track.window_ms) continue;
      if (mark.window_id == w) allowance += mark.current + (sliding ? mark.previous : 0);
      if (sliding && mark.window_id + 1 == w) allowance += mark.current;
    }
    return allowance;
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
  void flood_check(int node_index, const Arrival& arrival) {
    SimNode& node = *nodes_[node_index];
    const std::string key = "f" + std::to_string(arrival.flood_sequence);
    const core::CheckItem item{s_.workload.policy, key, s_.workload.tier, s_.workload.endpoint, 1};
    node.engine().check(node.policies(), node.wall(arrival.time_ns), std::span(&item, 1), outcome_);
    ++result_.flood_checks;
  }

  // A check arrives at the node the workload sends it to, which answers now or once its
  // start-up hold ends.
  void check(const Arrival& arrival) {
    const int node_index = workload_->choose_node(arrival.key, alive_);
    if (nodes_[node_index]->holds_checks(arrival.time_ns)) {
      held_[static_cast<std::size_t>(node_index)].push_back(arrival);
      return;
    }
    decide(node_index, arrival);
  }

  // Decides a check at node `node_index`, at `arrival.time_ns`: at once, or, denied for want of
  // rights with a wait allowed, once an answer to the node's requests comes or the wait is over
  // (`waited`: the check's wait so far, when it is looking again).
  void decide(int node_index, const Arrival& arrival, RightsWaiting* waited = nullptr) {
    if (arrival.key == flood_key) {
      flood_check(node_index, arrival);
      return;
    }
    SimNode& node = *nodes_[node_index];
    // A double-counting node charges each request twice; the truth below counts it once.
    const std::uint64_t cost = is_broken(node_index, BrokenKind::double_count) ? 2 : 1;
    const core::CheckItem item{s_.workload.policy, workload_->key_name(arrival.key),
                               s_.workload.tier, s_.workload.endpoint, cost};
    const std::uint64_t answers_seen = node.answers_merged();
    const core::MonoTime mono = node.mono(arrival.time_ns);
    const core::WallTime wall = node.wall(arrival.time_ns);
    // Held for owners' totals at most until its wait is over: the last look decides.
    const bool may_wait = waited == nullptr || mono < waited->wait.deadline;
    node.engine().check(node.policies(), wall, std::span(&item, 1), outcome_, may_wait);
    std::optional<RightsWaiting> parked;
    if (waited == nullptr) {
      if (auto wait = node.rights_waits().begin(outcome_, mono, answers_seen)) {
        parked = RightsWaiting{arrival, *wait};
      } else if (outcome_.totals_wait_ms > 0) {
        // No place to wait: decided on what the node knows, as drld does.
        node.engine().check(node.policies(), wall, std::span(&item, 1), outcome_);
      }
    } else if (node.rights_waits().waits_on(waited->wait, outcome_, mono, answers_seen)) {
      parked = *waited;
    }
    const bool admitted = outcome_.allowed;
    if (parked) {
      // The node asked for rights under its limit in force: the window is held to it, as to any
      // limit a node decided under (the check is not decided yet: nothing admitted). A check
      // held for totals was not looked at that far.
      if (outcome_.totals_wait_ms == 0) note_hard_decision(node, arrival, false);
      // As drld: the requests go out now, and the check waits for their answer.
      node.cluster().rights_now(mono, node.wall(arrival.time_ns));
      flush(node_index, arrival.time_ns);
      if (waited == nullptr) {
        push(Event{node.true_time_of(parked->wait.deadline),
                   0,
                   EventKind::rights_wait_end,
                   node_index,
                   0,
                   0,
                   {},
                   0});
      }
      rights_waits_[static_cast<std::size_t>(node_index)].push_back(*parked);
      return;
    }
    if (waited != nullptr && waited->wait.for_totals) {
      const double waited_ms = static_cast<double>(mono.ns - waited->wait.since.ns) / ns_per_ms;
      ++result_.totals_waits;
      result_.totals_waits_answered += mono < waited->wait.deadline;
      result_.totals_wait_ms_total += waited_ms;
      result_.totals_wait_max_ms = std::max(result_.totals_wait_max_ms, waited_ms);
    } else if (waited != nullptr) {
      const double waited_ms = static_cast<double>(mono.ns - waited->wait.since.ns) / ns_per_ms;
      ++result_.rights_waits;
      result_.rights_waits_admitted += admitted;
      result_.rights_wait_ms_total += waited_ms;
      result_.rights_wait_max_ms = std::max(result_.rights_wait_max_ms, waited_ms);
    }
    note_hard_decision(node, arrival, admitted);
    if (admitted && is_sampled(arrival.key)) note_own_counts(node, arrival);
    reference_.check(dynamic_.reference_policies(),
                     core::WallTime{kEpochUnixMs + arrival.time_ns / ns_per_ms},
                     std::span(&item, 1), outcome_);
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
          (kEpochUnixMs + arrival.time_ns / ns_per_ms) / static_cast<std::int64_t>(track.window_ms);
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

  // Hard limits: one admitted request (whatever a broken node charged for it) in the window the
  // deciding node counted it in. No (key, window) may hold more than the most generous limit a
  // node had in force when it decided a check there (admitted or not: a node that asks for rights
  // asks under its limit): zero overshoot, not a bound.
  void note_hard_decision(const SimNode& node, const Arrival& arrival, bool admitted) {
    for (std::size_t i = 0; i < outcome_.limit_count; ++i) {
      const core::LimitOutcome& limit = outcome_.limits[i];
      if (limit.policy->enforcement != core::Enforcement::hard) continue;
      HardWindow& window = hard_windows_[{limit.rule->window_ms, limit.window_id, arrival.key}];
      window.limit = std::max(window.limit, limit.limit);
      if (!admitted) continue;
      if (window.admitted == 0) ++result_.hard_windows;
      ++window.admitted;
      if (window.admitted <= window.limit || window.reported) continue;
      window.reported = true;
      ++result_.hard_violations;
      result_.safety_ok = false;
      if (result_.first_hard_violation.empty()) {
        result_.first_hard_violation = "key " + workload_->key_name(arrival.key) + ", window " +
                                       std::to_string(limit.window_id) + " of " +
                                       core::format_duration_ms(limit.rule->window_ms) +
                                       ": admitted " + std::to_string(window.admitted) +
                                       " against the hard limit " + std::to_string(window.limit) +
                                       " (the last by " + node.id() + " at " +
                                       format_run_seconds(arrival.time_ns) + ")";
      }
    }
  }

  // Windows more than a few behind the one that holds in true time are done with (a node's
  // clock is not that far off in any scenario; if it were, its late admissions would start a
  // fresh tally and could only hide an overshoot, never invent one).
  void forget_hard_windows(const LimitTrack& track) {
    if (track.window < 4) return;
    const auto upto = static_cast<std::uint64_t>(track.window - 4);
    hard_windows_.erase(hard_windows_.lower_bound({track.window_ms, 0, 0}),
                        hard_windows_.lower_bound({track.window_ms, upto, 0}));
  }

  void close_window(LimitTrack& track, std::int64_t) {
    forget_hard_windows(track);
    if (track.window < 0) return;
    const bool first = &track == &limits_.front();
    const std::int64_t start_ns =
        (track.window * static_cast<std::int64_t>(track.window_ms) - kEpochUnixMs) * ns_per_ms;
    const std::int64_t end_ns = start_ns + static_cast<std::int64_t>(track.window_ms) * ns_per_ms;
    for (std::uint64_t key : track.touched) {
      const auto keyed = track.key_limits.find(workload_->key_name(key));
      const std::uint64_t window_limit =
          keyed != track.key_limits.end() ? keyed->second : track.window_limit;
      const auto limit = static_cast<double>(std::max<std::uint64_t>(window_limit, 1));
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
        const double bound =
            excess_bound(s_, SaturatedWindow{workload_->peak_rate(key), limit, start_ns, end_ns});
        track.report.bound_percent = std::max(track.report.bound_percent, 100.0 * bound / limit);
        if (excess > bound) {
          ++track.report.violations;
          if (track.report.first_violation.empty()) {
            track.report.first_violation =
                "window at " + format_run_seconds(start_ns) + ", key " + workload_->key_name(key) +
                ": admitted " + std::to_string(track.admitted[key]) + " (exact " +
                std::to_string(track.exact[key]) + ") against limit " +
                std::to_string(window_limit) + " and bound +" + format_number(bound);
          }
        }
      }
      track.offered[key] = track.admitted[key] = track.exact[key] = 0;
    }
    track.touched.clear();
    const std::uint64_t window_limit = track.window_limit;
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
    std::vector<const core::PolicySet*> sets{&dynamic_.reference_policies()};
    for (int i = 0; i < s_.nodes; ++i) {
      if (alive_[i]) sets.push_back(&nodes_[i]->policies());
    }
    track.window_limit = 0;
    for (const core::PolicySet* set : sets) {
      track.window_limit = std::max(track.window_limit, limits_in(*set)[l]);
    }
    // Keys with controls: from the start of the window, the most generous of every node's view
    // (a node without the key's control gives it the policy's limit).
    track.key_limits.clear();
    const std::int64_t next = track.window + 1;  // the window that starts now
    for (const core::PolicySet* set : sets) {
      const core::Policy* policy = set->find(s_.workload.policy);
      if (policy == nullptr) continue;
      for (const auto& [key, control] : policy->keys) track.key_limits.emplace(key, 0);
    }
    for (auto& [key, allowance] : track.key_limits) {
      for (const core::PolicySet* set : sets) {
        const core::Policy* policy = set->find(s_.workload.policy);
        if (policy == nullptr) continue;
        const auto control = policy->keys.find(key);
        allowance =
            std::max(allowance, control == policy->keys.end()
                                    ? limits_in(*set)[l]
                                    : key_allowance(*policy, l, key, control->second, next));
      }
    }
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
           ns_per_ms * (s_.nodes > 100 ? 10 : 1);
  }

  // How long after `at_s` every live node holds what any live node held then (oracle_bounds.hpp).
  double convergence_bound_ms(double at_s) const {
    // Every slot of every origin (the nodes and the incarnations crashes leave behind), for
    // the current and the previous window.
    const double records =
        static_cast<double>(std::min<std::uint64_t>(workload_->key_count(), 1'000'000)) *
        static_cast<double>(limits_.size()) * (s_.nodes + static_cast<double>(s_.crashes.size())) *
        2.0;
    return sim::convergence_bound_ms(s_, records, at_s,
                                     static_cast<double>(probe_step_ns()) / ns_per_ms);
  }

  void plan_convergence() {
    const auto plan = [&](double at_s, std::string what) {
      const double bound_ms = s_.checks.converge_within_ms >= 0 ? s_.checks.converge_within_ms
                                                                : convergence_bound_ms(at_s);
      Measurement m;
      m.report.after = std::move(what);
      m.report.at_s = at_s;
      m.report.bound_ms = bound_ms;
      m.at_ns = run_ns(at_s);
      m.bound_ns = static_cast<std::int64_t>(bound_ms * ns_per_ms);
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

  std::vector<SampledCounter> sample_counters() const {
    std::vector<SampledCounter> counters;
    const std::uint64_t keys = sampled_keys();
    std::vector<std::uint64_t> sample;
    for (std::uint64_t k = 0; k < keys; ++k) sample.push_back(k);
    if (workload_->attack_key() != UINT64_MAX) sample.push_back(workload_->attack_key());
    for (std::uint64_t key : sample) {
      for (const LimitTrack& track : limits_) {
        counters.push_back(SampledCounter{
            core::counter_id(track.rule->counter_seed, workload_->key_name(key)), track.window_ms});
      }
    }
    return counters;
  }

  void start_measurement(int index, std::int64_t now_ns) {
    Measurement& m = measurements_[static_cast<std::size_t>(index)];
    const std::vector<SampledCounter> counters = sample_counters();
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      for (const auto& [slot, count] : slots_of(*nodes_[i], now_ns, counters)) {
        std::uint32_t& best = m.truth[slot];
        best = std::max(best, count);
      }
    }
    m.open = true;
    probe(index, now_ns);
  }

  void probe(int index, std::int64_t now_ns) {
    Measurement& m = measurements_[static_cast<std::size_t>(index)];
    if (!m.open) return;
    const std::vector<SampledCounter> counters = sample_counters();
    bool all = true;
    for (int i = 0; i < s_.nodes && all; ++i) {
      if (!alive_[i]) continue;
      all = uses_owners(s_) ? holds_totals(*nodes_[i], now_ns, m.truth, counters)
                            : dominates(*nodes_[i], now_ns, m.truth, counters);
    }
    if (all) {
      m.report.took_ms = static_cast<double>(now_ns - m.at_ns) / ns_per_ms;
      m.open = false;
      return;
    }
    push(Event{now_ns + probe_step_ns(), 0, EventKind::probe, 0, 0, 0, {}, index});
  }

  // --- counts ----------------------------------------------------------------------------

  // After `node` admitted a sampled key (counts_oracle.hpp).
  void note_own_counts(SimNode& node, const Arrival& arrival) {
    const std::string& key = workload_->key_name(arrival.key);
    for (const LimitTrack& track : limits_) {
      counts_.on_admitted(
          node, SampledCounter{core::counter_id(track.rule->counter_seed, key), track.window_ms},
          key, arrival.time_ns);
    }
  }

  // Every live node's slots of the sampled counters against what their origins counted.
  void audit_counts(std::int64_t now_ns) {
    const std::vector<SampledCounter> counters = sample_counters();
    for (int i = 0; i < s_.nodes; ++i) {
      if (alive_[i]) counts_.audit(nodes_[i]->id(), slots_of(*nodes_[i], now_ns, counters), now_ns);
    }
  }

  // --- results ---------------------------------------------------------------------------

  void finish() {
    audit_counts(run_ns(s_.duration_s));
    result_.count_violations = counts_.violations();
    result_.counts_ok = counts_.violations() == 0;
    result_.first_count_violation = counts_.first_violation();
    for (LimitTrack& track : limits_) {
      std::vector<double>& values = track.overshoots;
      std::sort(values.begin(), values.end());
      if (!values.empty()) {
        track.report.overshoot_max_percent = values.back();
        track.report.overshoot_p99_percent =
            values[std::min(values.size() - 1,
                            static_cast<std::size_t>(0.99 * static_cast<double>(values.size())))];
        double sum = 0;
        for (double v : values) sum += v;
        track.report.overshoot_mean_percent = sum / static_cast<double>(values.size());
      }
      if (track.report.violations > 0) result_.safety_ok = false;
      result_.limits.push_back(track.report);
    }
    const std::int64_t end_ns = run_ns(s_.duration_s);
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
    RunResult::MessagesPerNode& messages = result_.messages_per_node_per_s;
    int alive_at_end = 0;
    for (int i = 0; i < s_.nodes; ++i) {
      if (!alive_[i]) continue;
      const core::Replicator& replicator = nodes_[i]->cluster().replicator();
      result_.updates_sent += replicator.stats().updates_sent;
      ++alive_at_end;
      messages.heartbeats += static_cast<double>(replicator.stats().heartbeats_sent);
      messages.acks += static_cast<double>(replicator.stats().acks_sent);
      messages.deltas += static_cast<double>(replicator.stats().delta_messages_sent);
      messages.repairs += static_cast<double>(replicator.stats().repair_messages_sent);
      messages.totals += static_cast<double>(replicator.stats().totals_messages_sent);
      for (const core::PeerStatus& peer : replicator.peers(nodes_[i]->mono(end_ns))) {
        if (peer.state == core::PeerState::alive && peer.rtt_us >= 0) {
          result_.max_clock_offset_ms = std::max(
              result_.max_clock_offset_ms, std::abs(static_cast<double>(peer.clock_offset_ms)));
        }
      }
    }
    if (alive_at_end > 0) {
      for (double* kind : {&messages.heartbeats, &messages.acks, &messages.deltas,
                           &messages.repairs, &messages.totals}) {
        *kind /= alive_at_end * s_.duration_s;
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

  const Scenario& s_;
  Random random_;
  Network network_;
  std::unique_ptr<WorkloadGenerator> workload_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::vector<bool> alive_;
  std::vector<std::vector<Arrival>> held_;  // per node: checks waiting for its start-up sync
  // Per node: checks waiting for a grant.
  std::vector<std::vector<RightsWaiting>> rights_waits_;
  std::vector<NodeClock> clocks_;
  core::CounterStore reference_store_;
  core::CheckEngine reference_;
  core::CheckOutcome outcome_;
  LimitChangeDriver dynamic_;
  wire::ClusterCodec inspector_;                 // opens a broken node's datagrams
  std::vector<std::vector<BrokenKind>> broken_;  // per node: what [[broken_node]] breaks
  std::vector<LimitTrack> limits_;
  struct HardWindow {
    std::uint64_t admitted = 0;
    std::uint64_t limit = 0;
    bool reported = false;
  };
  // By window length, window id and key.
  std::map<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>, HardWindow> hard_windows_;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  std::uint64_t next_sequence_ = 0;
  std::vector<Measurement> measurements_;
  std::uint64_t focus_ = 0;
  TimelineRow row_;
  std::uint64_t retired_datagrams_ = 0;
  std::uint64_t retired_bytes_ = 0;
  std::uint64_t retired_dropped_ = 0;
  CountsOracle counts_;  // for the sampled keys
  RunResult result_;
};

}  // namespace

RunResult run_simulation(const Scenario& scenario) {
  return Simulation(scenario).run();
}

}  // namespace drl::sim
