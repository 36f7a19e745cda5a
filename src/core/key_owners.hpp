// Which members own which key under owner dissemination (docs/replication.md, "Key owners"): a
// consistent-hash ring of the live members, each at owner_ring_points_per_member points, on
// which a key's owners are the first distinct members clockwise from the key's point. A member
// that joins or leaves moves only the keys next to its points; every node that sees the same
// members picks the same owners, and nodes that see different members for a while send to both
// sets (absolute, per-origin counts: traffic, not double counting).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace drl::core {

class KeyOwners {
 public:
  // The live members by node id, in any order, this node's own among them. Rebuilds the ring if
  // they differ from the last call's; returns whether they did.
  bool assign(std::vector<std::string> members);

  // The owners of `counter_id`, first owner first: up to out.size() distinct members, as indices
  // into members(). Returns how many were written (fewer only with fewer members).
  std::size_t owners_of(std::uint64_t counter_id, std::span<std::uint32_t> out) const;

  // The share of keys `member` is the first owner of, in thousandths (0 with no ring).
  std::uint64_t first_owner_permille(std::uint32_t member) const;

  // Sorted by node id.
  const std::vector<std::string>& members() const { return members_; }

 private:
  struct Point {
    std::uint64_t position = 0;
    std::uint32_t member = 0;
  };
  std::vector<std::string> members_;
  std::vector<Point> ring_;  // sorted by position
};

}  // namespace drl::core
