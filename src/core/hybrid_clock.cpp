#include "core/hybrid_clock.hpp"

#include <algorithm>

namespace drl::core {

HlcStamp HybridClock::now(WallTime wall) {
  if (wall.unix_ms > wall_ms_) {
    wall_ms_ = wall.unix_ms;
    logical_ = 0;
  } else {
    ++logical_;
  }
  return HlcStamp{wall_ms_, logical_, node_id_};
}

void HybridClock::observe(const HlcStamp& remote, WallTime wall) {
  const std::int64_t before = wall_ms_;
  const std::int64_t highest = std::max({before, remote.wall_ms, wall.unix_ms});
  if (highest == before && highest == remote.wall_ms) {
    logical_ = std::max(logical_, remote.logical);
  } else if (highest == remote.wall_ms) {
    logical_ = remote.logical;
  } else if (highest != before) {
    logical_ = 0;
  }
  wall_ms_ = highest;
}

}  // namespace drl::core
