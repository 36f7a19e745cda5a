#include "sim/limit_change_driver.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/limit_adjuster.hpp"

namespace drl::sim {
namespace {

std::string describe(const OverrideEvent& event, int node) {
  std::string out = event.clear   ? "clear"
                    : event.reset ? "reset"
                                  : "set " + core::describe_value(event.kind, event.value);
  out += " on " + core::describe_scope(event.scope) + " at n" + std::to_string(node);
  if (!event.clear && !event.reset) {
    char ttl[32];
    std::snprintf(ttl, sizeof ttl, "%g", event.ttl_s);
    out += std::string(", ttl ") + ttl + " s";
  }
  return out;
}

}  // namespace

LimitChangeDriver::LimitChangeDriver(const Scenario& scenario)
    : s_(scenario), schedule_(scenario.signals), oracle_("oracle") {
  bool adaptive = false;
  for (const core::Policy& policy : s_.policies->policies()) {
    if (!policy.adaptive_enabled) continue;
    adaptive = true;
    adaptive_.push_back({policy.name, policy.adaptive.signal, {}});
  }
  enabled_ = adaptive || !s_.overrides.empty() || !s_.signals.empty() || !s_.queue.signal.empty();
  reference_ = s_.policies;
  oracle_factors_permille_.assign(adaptive_.size(), 1000);
  oracle_version_ = oracle_.version();

  // An override is written into the table at once and goes out with the writer's next gossip
  // round; every node whose table it changes passes it on in its own next round (the table goes
  // to delta peers whenever its version moves). So a peer has it after two rounds, each at most
  // a gossip interval plus latency and jitter (and a millisecond of timer rounding), unless it
  // missed the writer's copy and every other peer's: with loss p, per peer
  //   q = p * (p + (1 - p) p)^(n - 2)
  // (each other peer either missed the writer's copy or lost its forward). Such a peer waits for
  // the override sync (every override_sync_interval, to every live peer, each copy lost with p).
  // The bound is two rounds when (n - 1) q < 1e-6, else two rounds plus as many syncs k as
  // make (n - 1) q p^k < 1e-6.
  const config::ClusterSettings& c = s_.cluster;
  const double round_ms =
      static_cast<double>(c.gossip_interval_ms) + s_.link.latency_ms + s_.link.jitter_ms + 1.0;
  const double p = std::min(0.99, s_.link.loss);
  const double n = s_.nodes;
  const double miss = n < 2 ? 0 : (n - 1) * p * std::pow(p + (1 - p) * p, n - 2);
  double syncs = 0;
  if (miss >= 1e-6) syncs = std::max(1.0, std::ceil(std::log(1e-6 / miss) / std::log(p)));
  const double sync_ms =
      static_cast<double>(core::ReplicationConfig{}.override_sync_interval_ms) + round_ms;
  override_bound_ms_ = s_.checks.override_within_ms >= 0 ? s_.checks.override_within_ms
                                                         : 2 * round_ms + syncs * sync_ms;
}

std::optional<double> LimitChangeDriver::signal_of(std::string_view name, int node,
                                                   double at_s) const {
  if (!s_.queue.signal.empty() && name == s_.queue.signal) return queue_depth_;
  return schedule_.value(name, node, at_s);
}

void LimitChangeDriver::write_override(std::size_t index, SimNode* node, std::int64_t now_ns) {
  const OverrideEvent& event = s_.overrides[index];
  Tracking tracking;
  tracking.report.what = describe(event, event.node);
  tracking.report.at_s = static_cast<double>(now_ns) / 1e9;
  tracking.report.ttl_s = event.clear || event.reset ? 0 : event.ttl_s;
  tracking.report.bound_ms = override_bound_ms_;
  tracking.scope = event.scope;
  tracking.clear = event.clear;
  tracking.reset = event.reset;
  tracking.reached.assign(static_cast<std::size_t>(s_.nodes), false);
  // A later write on the scope ends the wait for an earlier set's expiry: it is superseded.
  for (Tracking& earlier : tracking_) {
    if (earlier.scope == event.scope && earlier.stage == 1) earlier.stage = 2;
  }
  if (node == nullptr) {
    tracking.report.error = "n" + std::to_string(event.node) + " is down";
    tracking.stage = 2;
    tracking_.push_back(std::move(tracking));
    return;
  }
  const core::WallTime wall = node->wall(now_ns);
  if (event.clear) {
    if (!node->overrides().clear(event.scope, wall)) tracking.report.error = "nothing to clear";
  } else if (event.reset) {
    // As drld's `drl key reset`: the node reads the key's counters as it sees them.
    Errc code = Errc::ok;
    node->limits().reset_key(node->engine(), event.scope, event.reason, wall, code,
                             tracking.report.error);
  } else {
    std::string error;
    node->overrides().set(event.scope, event.kind, event.value,
                          static_cast<std::int64_t>(std::llround(event.ttl_s * 1000.0)),
                          event.reason, wall, error);
    tracking.report.error = error;
  }
  if (!tracking.report.error.empty()) {
    tracking.stage = 2;
    tracking_.push_back(std::move(tracking));
    return;
  }
  // The record as the writer stored it: its stamp is what the other nodes must catch up to.
  for (const core::OverrideRecord& record : node->overrides().records()) {
    if (record.scope != event.scope) continue;
    tracking.stamp = record.stamp;
    oracle_.merge({record}, core::WallTime{kEpochUnixMs + now_ns / ns_per_ms});
  }
  tracking_.push_back(std::move(tracking));
  refresh_reference(now_ns, node);
}

bool LimitChangeDriver::reached(const Tracking& tracking, const SimNode& node) const {
  const std::vector<core::OverrideRecord>& in_force = node.limits().overrides_in_force();
  if (tracking.stage == 0 && !tracking.clear) {
    // In force: this record, or a later write of the same scope.
    return std::any_of(in_force.begin(), in_force.end(), [&](const core::OverrideRecord& r) {
      return r.scope == tracking.scope && r.stamp >= tracking.stamp;
    });
  }
  // Gone: a clear takes out every older record of its scope; an expiry, the set's own record.
  return std::none_of(in_force.begin(), in_force.end(), [&](const core::OverrideRecord& r) {
    return r.scope == tracking.scope &&
           (tracking.clear ? r.stamp < tracking.stamp : r.stamp == tracking.stamp);
  });
}

bool LimitChangeDriver::after_activity(int i, SimNode& node, std::int64_t now_ns,
                                       const std::vector<bool>& alive) {
  const bool changed = node.refresh_policies(now_ns);
  for (Tracking& tracking : tracking_) {
    if (tracking.stage == 2) continue;
    tracking.reached[static_cast<std::size_t>(i)] = reached(tracking, node);
    bool all = true;
    for (int j = 0; j < s_.nodes && all; ++j) {
      all = !alive[static_cast<std::size_t>(j)] || tracking.reached[static_cast<std::size_t>(j)];
    }
    if (!all) continue;
    const double since_write_ms =
        (static_cast<double>(now_ns) / 1e9 - tracking.report.at_s) * 1000.0;
    if (tracking.stage == 0) {
      tracking.report.in_force_ms = since_write_ms;
      // A reset does not expire at a TTL: it ends with the windows it marks.
      tracking.stage = tracking.clear || tracking.reset ? 2 : 1;
      tracking.reached.assign(tracking.reached.size(), false);
    } else {
      tracking.report.expired_ms = since_write_ms - tracking.report.ttl_s * 1000.0;
      tracking.stage = 2;
    }
  }
  return changed;
}

void LimitChangeDriver::sample(std::int64_t now_ns,
                               const std::vector<std::unique_ptr<SimNode>>& nodes,
                               const std::vector<bool>& alive) {
  // The queue drains at its service rate between samples (it grows in on_check).
  if (!s_.queue.signal.empty()) {
    queue_depth_ =
        std::max(0.0, queue_depth_ -
                          s_.queue.service_rate * static_cast<double>(now_ns - queue_at_ns_) / 1e9);
    queue_at_ns_ = now_ns;
  }
  const double at_s = static_cast<double>(now_ns) / 1e9;
  const SimNode* first_live = nullptr;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!alive[i]) continue;
    const int index = static_cast<int>(i);
    nodes[i]->sample_load(now_ns,
                          [&](std::string_view name) { return signal_of(name, index, at_s); });
    if (first_live == nullptr) first_live = nodes[i].get();
  }
  for (std::size_t p = 0; p < adaptive_.size(); ++p) {
    FactorSample sample;
    sample.at_s = at_s;
    sample.min_permille = UINT32_MAX;
    sample.max_permille = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (!alive[i]) continue;
      const std::uint32_t factor =
          nodes[i]->limits().adaptive().at(adaptive_[p].policy).controller.factor_permille();
      sample.min_permille = std::min(sample.min_permille, factor);
      sample.max_permille = std::max(sample.max_permille, factor);
    }
    if (first_live != nullptr) {
      const core::AdaptiveController& controller =
          first_live->limits().adaptive().at(adaptive_[p].policy).controller;
      sample.signal =
          signal_of(reported_name(controller.law().signal), first_live->index(), at_s).value_or(0);
      sample.smoothed = controller.smoothed_signal();
    }
    adaptive_[p].samples.push_back(sample);
  }
  refresh_reference(now_ns, first_live);
}

void LimitChangeDriver::refresh_reference(std::int64_t now_ns, const SimNode* first_live) {
  const core::WallTime wall{kEpochUnixMs + now_ns / ns_per_ms};
  oracle_.expire(wall);
  std::vector<core::AdaptiveFactor> factors;
  std::vector<std::uint32_t> permille;
  if (first_live != nullptr) {
    for (const auto& [policy, adaptive] : first_live->limits().adaptive()) {
      const core::AdaptiveController& controller = adaptive.controller;
      factors.push_back({policy, controller.factor_permille(), controller.law().signal,
                         controller.smoothed_signal()});
      permille.push_back(controller.factor_permille());
    }
  }
  if (first_live == nullptr) permille = oracle_factors_permille_;
  if (oracle_.version() == oracle_version_ && permille == oracle_factors_permille_) return;
  oracle_version_ = oracle_.version();
  oracle_factors_permille_ = permille;
  reference_ = core::adjust_policies(*s_.policies, oracle_.active(wall), factors);
}

void LimitChangeDriver::on_check(std::int64_t now_ns, bool admitted) {
  const auto bin = static_cast<std::size_t>(now_ns / kSampleIntervalNs);
  if (bin >= offered_bins_.size()) {
    offered_bins_.resize(bin + 1, 0);
    admitted_bins_.resize(bin + 1, 0);
  }
  ++offered_bins_[bin];
  admitted_bins_[bin] += admitted;
  if (admitted && !s_.queue.signal.empty()) queue_depth_ += 1;
}

bool LimitChangeDriver::measurable(const OverrideReport& report) const {
  const double from_s = report.at_s;
  const double to_s = report.at_s + report.bound_ms / 1000.0;
  if (to_s > s_.duration_s) return false;
  // Across a cut the override cannot arrive; after a heal or a restart, peers get it once they
  // count each other alive again (down_after and a heartbeat or two later).
  const config::ClusterSettings& c = s_.cluster;
  const double recovery_s =
      static_cast<double>(c.down_after_ms + 2 * c.heartbeat_interval_ms) / 1000.0;
  for (const PartitionPhase& phase : s_.partitions) {
    if (phase.start_s < to_s && phase.end_s + recovery_s > from_s) return false;
  }
  for (const CrashEvent& crash : s_.crashes) {
    const double back_s =
        crash.restart_after_s < 0 ? s_.duration_s : crash.at_s + crash.restart_after_s;
    if (crash.at_s < to_s && back_s + recovery_s > from_s) return false;
  }
  return true;
}

void LimitChangeDriver::finish(RunResult& result) const {
  const auto bins_per_second = static_cast<std::size_t>(1'000'000'000 / kSampleIntervalNs);
  const auto seconds = static_cast<std::size_t>(std::ceil(s_.duration_s));
  result.admitted_per_second.assign(seconds, 0);
  for (std::size_t b = 0; b < admitted_bins_.size(); ++b) {
    if (b / bins_per_second < seconds)
      result.admitted_per_second[b / bins_per_second] += admitted_bins_[b];
  }
  for (const Tracking& tracking : tracking_) {
    OverrideReport report = tracking.report;
    report.measured = report.error.empty() && measurable(report);
    // A write the node accepted must reach every node within the bound, when measured.
    if (report.measured && (report.in_force_ms < 0 || report.in_force_ms > report.bound_ms))
      result.liveness_ok = false;
    result.overrides.push_back(std::move(report));
  }
  result.adaptive = adaptive_;
  if (!enabled_) return;

  // Phases: cut wherever the scenario changes something.
  std::vector<double> cuts = schedule_.boundaries_s();
  cuts.push_back(0);
  cuts.push_back(s_.duration_s);
  cuts.push_back(s_.workload.start_s);
  cuts.push_back(s_.workload.stop_s);
  for (const OverrideEvent& event : s_.overrides) {
    cuts.push_back(event.at_s);
    if (!event.clear) cuts.push_back(event.at_s + event.ttl_s);
  }
  std::sort(cuts.begin(), cuts.end());
  const auto bin_of = [](double s) {
    return static_cast<std::size_t>(std::llround(s * 1e9 / static_cast<double>(kSampleIntervalNs)));
  };
  const auto sum = [](const std::vector<std::uint64_t>& bins, std::size_t from, std::size_t to) {
    std::uint64_t total = 0;
    for (std::size_t b = from; b < to && b < bins.size(); ++b) total += bins[b];
    return static_cast<double>(total);
  };
  for (std::size_t c = 0; c + 1 < cuts.size(); ++c) {
    const double start = std::max(0.0, cuts[c]);
    const double end = std::min(s_.duration_s, cuts[c + 1]);
    // Phases shorter than two samples say nothing about a rate.
    if (end - start < 2.0 * static_cast<double>(kSampleIntervalNs) / 1e9) continue;
    PhaseReport phase;
    phase.start_s = start;
    phase.end_s = end;
    const double middle = start + (end - start) / 2;
    phase.offered_per_s = sum(offered_bins_, bin_of(start), bin_of(end)) / (end - start);
    phase.admitted_per_s = sum(admitted_bins_, bin_of(start), bin_of(end)) / (end - start);
    const std::size_t settled_from = bin_of(middle);
    phase.settled_admitted_per_s = sum(admitted_bins_, settled_from, bin_of(end)) /
                                   (static_cast<double>(bin_of(end) - settled_from) *
                                    static_cast<double>(kSampleIntervalNs) / 1e9);
    for (const AdaptiveReport& adaptive : adaptive_) {
      std::uint32_t low = UINT32_MAX, high = 0;
      for (const FactorSample& sample : adaptive.samples) {
        if (sample.at_s < middle || sample.at_s >= end) continue;
        low = std::min(low, sample.min_permille);
        high = std::max(high, sample.max_permille);
      }
      phase.settled_factor_min_permille.push_back(low == UINT32_MAX ? 0 : low);
      phase.settled_factor_max_permille.push_back(high);
    }
    result.phases.push_back(std::move(phase));
  }
}

}  // namespace drl::sim
