#include "sim/network.hpp"

#include <algorithm>
#include <cmath>

namespace drl::sim {
namespace {

bool contains(const std::vector<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

int group_of(const PartitionPhase& phase, int node) {
  for (std::size_t g = 0; g < phase.groups.size(); ++g) {
    if (contains(phase.groups[g], node)) return static_cast<int>(g);
  }
  return -1;  // nodes not listed form one more group of their own
}

bool active(const PartitionPhase& phase, std::int64_t now_ns) {
  const double now_s = static_cast<double>(now_ns) / 1e9;
  return now_s >= phase.start_s && now_s < phase.end_s;
}

}  // namespace

Network::Network(const Scenario& scenario, Random random) : scenario_(scenario), random_(random) {}

bool Network::cut(std::int64_t now_ns, int from, int to) const {
  for (const PartitionPhase& phase : scenario_.partitions) {
    if (!active(phase, now_ns)) continue;
    if (phase.one_way) {
      if (contains(phase.from, from) && contains(phase.to, to)) return true;
    } else if (group_of(phase, from) != group_of(phase, to)) {
      return true;
    }
  }
  return false;
}

int Network::sides_of(const PartitionPhase& phase, int nodes) {
  if (phase.one_way) return 2;
  int listed = 0;
  for (const auto& group : phase.groups) listed += static_cast<int>(group.size());
  return static_cast<int>(phase.groups.size()) + (listed < nodes ? 1 : 0);
}

int Network::sides(std::int64_t now_ns) const {
  int most = 1;
  for (const PartitionPhase& phase : scenario_.partitions) {
    if (active(phase, now_ns)) most = std::max(most, sides_of(phase, scenario_.nodes));
  }
  return most;
}

std::int64_t Network::delay_ns() {
  const double ms = scenario_.link.latency_ms + random_.uniform() * scenario_.link.jitter_ms;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(ms * 1e6)));
}

std::vector<std::int64_t> Network::route(std::int64_t now_ns, int from, int to) {
  ++stats_.sent;
  // Draws in a fixed order whatever happens, so that a cut does not shift later draws.
  const bool lost = random_.chance(scenario_.link.loss);
  const bool duplicated = random_.chance(scenario_.link.duplicate);
  const std::int64_t first = delay_ns();
  const std::int64_t second = delay_ns();
  if (cut(now_ns, from, to)) {
    ++stats_.partitioned;
    return {};
  }
  if (lost) {
    ++stats_.lost;
    return {};
  }
  if (duplicated) {
    ++stats_.duplicated;
    return {first, second};
  }
  return {first};
}

void Network::maybe_corrupt(std::string& bytes) {
  if (scenario_.link.corrupt <= 0 || bytes.empty()) return;
  if (!random_.chance(scenario_.link.corrupt)) return;
  const std::size_t at = random_.below(bytes.size());
  // XOR with a non-zero value: the byte always changes.
  bytes[at] = static_cast<char>(bytes[at] ^ static_cast<char>(1 + random_.below(255)));
  ++stats_.corrupted;
}

}  // namespace drl::sim
