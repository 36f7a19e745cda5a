// A hybrid logical clock (Kulkarni et al., 2014): stamps that follow the wall clock but never
// go backwards and always order after every stamp this node has seen. Overrides are ordered by
// these stamps, so that a node whose clock is behind still writes after what it has seen (its
// stamp takes the larger wall time it observed), and a node whose clock is ahead cannot make a
// write that it has already seen superseded win again.
//
// Ties between nodes are broken by node id, so that every node picks the same winner.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "core/time.hpp"

namespace drl::core {

struct HlcStamp {
  std::int64_t wall_ms = 0;   // the largest wall time known when the stamp was made
  std::uint32_t logical = 0;  // events within the same wall_ms
  std::string node_id;        // who made it: the tie-break

  auto operator<=>(const HlcStamp&) const = default;
};

class HybridClock {
 public:
  explicit HybridClock(std::string node_id) : node_id_(std::move(node_id)) {}

  // A stamp for a local event at wall time `wall`: after every stamp made or observed so far.
  HlcStamp now(WallTime wall);

  // Takes in a stamp received from another node: later local stamps order after it.
  void observe(const HlcStamp& remote, WallTime wall);

  const std::string& node_id() const { return node_id_; }
  // The last stamp's wall part: how far this clock has been pushed ahead of the wall clock.
  std::int64_t last_wall_ms() const { return wall_ms_; }

 private:
  std::string node_id_;
  std::int64_t wall_ms_ = 0;
  std::uint32_t logical_ = 0;
};

}  // namespace drl::core
