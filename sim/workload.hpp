// The checks a scenario offers: which key, when, and to which node. Key "k0".."kN-1" follow
// the distribution; the optional attack key is hammered on every node.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sim/random.hpp"
#include "sim/scenario.hpp"

namespace drl::sim {

struct Arrival {
  std::int64_t time_ns = 0;
  std::uint64_t key = 0;             // index: keys first, then the attack key; or flood_key
  std::uint64_t flood_sequence = 0;  // a flood check's key is "f<flood_sequence>"
};

// The key index of a flood check (its key is new each time; see Workload::flood_per_s).
inline constexpr std::uint64_t flood_key = UINT64_MAX - 1;

class WorkloadGenerator {
 public:
  // `limit` per `window_ms` is the policy's first limit: offered rates are multiples of it.
  WorkloadGenerator(const Scenario& scenario, Random random, std::uint64_t limit,
                    std::uint64_t window_ms);

  // The next arrival in time order, or nullopt once the workload stopped.
  std::optional<Arrival> next();
  // The node that gets `key`'s check; `alive[i]` tells which nodes are up (one at least).
  int choose_node(std::uint64_t key, const std::vector<bool>& alive);

  std::uint64_t key_count() const { return key_names_.size(); }
  const std::string& key_name(std::uint64_t key) const { return key_names_[key]; }
  std::uint64_t attack_key() const { return attack_ ? key_names_.size() - 1 : UINT64_MAX; }
  // The highest rate (checks per second) `key` is offered at, over the run.
  double peak_rate(std::uint64_t key) const;
  double offered_total() const { return offered_total_; }

 private:
  struct Stream {
    double base_rate = 0;  // checks per second, before bursts
    double next_s = 0;
    bool done = false;
    std::uint64_t turn = 0;
  };
  double burst_factor(double at_s) const;
  double next_boundary(double after_s) const;
  void advance(Stream& stream);
  std::uint64_t draw_key();

  const Scenario& scenario_;
  Random random_;
  std::vector<std::string> key_names_;
  std::vector<double> cumulative_;  // zipf CDF over keys
  bool attack_ = false;
  Stream main_;
  Stream attack_stream_;
  Stream flood_stream_;
  std::uint64_t flood_sequence_ = 0;
  std::uint64_t flood_round_robin_ = 0;
  double offered_total_ = 0;
  std::uint64_t round_robin_ = 0;
  std::uint64_t attack_round_robin_ = 0;
};

}  // namespace drl::sim
