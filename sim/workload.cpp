#include "sim/workload.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace drl::sim {

WorkloadGenerator::WorkloadGenerator(const Scenario& scenario, Random random, std::uint64_t limit,
                                     std::uint64_t window_ms)
    : scenario_(scenario), random_(random) {
  const Workload& work = scenario.workload;
  for (std::uint64_t k = 0; k < work.keys; ++k) key_names_.push_back("k" + std::to_string(k));
  const double per_key =
      work.offered * static_cast<double>(limit) * 1000.0 / static_cast<double>(window_ms);
  main_.base_rate = per_key * static_cast<double>(work.keys);
  if (work.distribution == "zipf") {
    double sum = 0;
    for (std::uint64_t k = 0; k < work.keys; ++k) {
      sum += 1.0 / std::pow(static_cast<double>(k + 1), work.zipf_exponent);
      cumulative_.push_back(sum);
    }
    for (double& c : cumulative_) c /= sum;
  }
  if (work.attack_offered > 0) {
    attack_ = true;
    key_names_.push_back("attack");
    attack_stream_.base_rate =
        work.attack_offered * static_cast<double>(limit) * 1000.0 / static_cast<double>(window_ms);
  } else {
    attack_stream_.done = true;
  }
  flood_stream_.base_rate = work.flood_per_s;
  flood_stream_.done = work.flood_per_s <= 0;
  main_.next_s = work.start_s;
  attack_stream_.next_s = work.start_s;
  flood_stream_.next_s = work.start_s;
  if (main_.base_rate <= 0) main_.done = true;
  advance(main_);
  advance(attack_stream_);
  advance(flood_stream_);  // no draw when there is no flood: other scenarios keep theirs
}

double WorkloadGenerator::burst_factor(double at_s) const {
  double factor = 1;
  for (const Burst& burst : scenario_.workload.bursts) {
    if (at_s >= burst.start_s && at_s < burst.end_s) factor *= burst.factor;
  }
  return factor;
}

double WorkloadGenerator::next_boundary(double after_s) const {
  double next = scenario_.workload.stop_s;
  for (const Burst& burst : scenario_.workload.bursts) {
    if (burst.start_s > after_s) next = std::min(next, burst.start_s);
    if (burst.end_s > after_s) next = std::min(next, burst.end_s);
  }
  return next;
}

// Moves the stream to its next arrival: the rate is constant between burst boundaries, so the
// exponential (or, for even arrivals, unit) amount of "work" is spent piece by piece.
void WorkloadGenerator::advance(Stream& stream) {
  if (stream.done) return;
  double work = scenario_.workload.arrivals == "poisson" ? random_.exponential(1.0) : 1.0;
  double at = stream.next_s;
  for (;;) {
    if (at >= scenario_.workload.stop_s) {
      stream.done = true;
      return;
    }
    const double rate = stream.base_rate * burst_factor(at);
    const double boundary = next_boundary(at);
    if (rate > 0 && at + work / rate <= boundary) {
      stream.next_s = at + work / rate;
      return;
    }
    if (rate > 0) work -= rate * (boundary - at);
    at = boundary;
  }
}

std::uint64_t WorkloadGenerator::draw_key() {
  const std::uint64_t keys = scenario_.workload.keys;
  if (cumulative_.empty()) {
    if (scenario_.workload.arrivals == "even") return main_.turn++ % keys;
    return random_.below(keys);
  }
  const double u = random_.uniform();
  const auto it = std::lower_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min<std::uint64_t>(static_cast<std::uint64_t>(it - cumulative_.begin()), keys - 1);
}

std::optional<Arrival> WorkloadGenerator::next() {
  if (!flood_stream_.done && (main_.done || flood_stream_.next_s < main_.next_s) &&
      (attack_stream_.done || flood_stream_.next_s < attack_stream_.next_s)) {
    const Arrival arrival{static_cast<std::int64_t>(std::llround(flood_stream_.next_s * 1e9)),
                          flood_key, flood_sequence_++};
    advance(flood_stream_);
    return arrival;
  }
  const bool main_first =
      !main_.done && (attack_stream_.done || main_.next_s <= attack_stream_.next_s);
  if (main_first) {
    const Arrival arrival{static_cast<std::int64_t>(std::llround(main_.next_s * 1e9)), draw_key()};
    advance(main_);
    offered_total_ += 1;
    return arrival;
  }
  if (!attack_stream_.done) {
    const Arrival arrival{static_cast<std::int64_t>(std::llround(attack_stream_.next_s * 1e9)),
                          attack_key()};
    advance(attack_stream_);
    offered_total_ += 1;
    return arrival;
  }
  return std::nullopt;
}

int WorkloadGenerator::choose_node(std::uint64_t key, const std::vector<bool>& alive) {
  const int nodes = static_cast<int>(alive.size());
  const auto first_alive_from = [&](int start) {
    for (int i = 0; i < nodes; ++i) {
      const int candidate = (start + i) % nodes;
      if (alive[candidate]) return candidate;
    }
    return start % nodes;
  };
  if (key == attack_key()) return first_alive_from(static_cast<int>(attack_round_robin_++ % nodes));
  if (key == flood_key) return first_alive_from(static_cast<int>(flood_round_robin_++ % nodes));
  const std::string& spread = scenario_.workload.spread;
  if (spread == "round_robin") return first_alive_from(static_cast<int>(round_robin_++ % nodes));
  if (spread == "sticky" && random_.chance(scenario_.workload.sticky_share)) {
    // A stable home per key, as a load balancer with session affinity would give.
    const std::uint64_t home = (key * 0x9e3779b97f4a7c15ULL) >> 32;
    return first_alive_from(static_cast<int>(home % static_cast<std::uint64_t>(nodes)));
  }
  return first_alive_from(static_cast<int>(random_.below(static_cast<std::uint64_t>(nodes))));
}

double WorkloadGenerator::peak_rate(std::uint64_t key) const {
  double peak_factor = 1;
  for (const Burst& burst : scenario_.workload.bursts)
    peak_factor = std::max(peak_factor, burst.factor);
  if (key == attack_key()) return attack_stream_.base_rate * peak_factor;
  const double keys = static_cast<double>(scenario_.workload.keys);
  double share = 1.0 / keys;
  if (!cumulative_.empty()) share = cumulative_[key] - (key == 0 ? 0.0 : cumulative_[key - 1]);
  return main_.base_rate * share * peak_factor;
}

}  // namespace drl::sim
