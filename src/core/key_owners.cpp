#include "core/key_owners.hpp"

#include <xxhash.h>

#include <algorithm>

#include "core/assert.hpp"
#include "core/bounds.hpp"

namespace drl::core {
namespace {

// A 64-bit mix (splitmix64's finaliser): counter ids are hashes already, but of a few bits of
// difference between nearby ids the ring must make far apart points.
std::uint64_t mix(std::uint64_t value) {
  value ^= value >> 30;
  value *= 0xbf58476d1ce4e5b9ULL;
  value ^= value >> 27;
  value *= 0x94d049bb133111ebULL;
  return value ^ (value >> 31);
}

}  // namespace

bool KeyOwners::assign(std::vector<std::string> members) {
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (members == members_) return false;
  members_ = std::move(members);
  ring_.clear();
  ring_.reserve(members_.size() * bounds::owner_ring_points_per_member);
  for (std::uint32_t m = 0; m < members_.size(); ++m) {
    const std::uint64_t seed = XXH3_64bits(members_[m].data(), members_[m].size());
    for (std::uint64_t point = 0; point < bounds::owner_ring_points_per_member; ++point) {
      ring_.push_back(Point{mix(seed + point), m});
    }
  }
  std::sort(ring_.begin(), ring_.end(), [](const Point& a, const Point& b) {
    return a.position != b.position ? a.position < b.position : a.member < b.member;
  });
  return true;
}

std::size_t KeyOwners::owners_of(std::uint64_t counter_id, std::span<std::uint32_t> out) const {
  if (ring_.empty() || out.empty()) return 0;
  const std::size_t wanted = std::min(out.size(), members_.size());
  const std::uint64_t position = mix(counter_id);
  auto at =
      std::lower_bound(ring_.begin(), ring_.end(), position,
                       [](const Point& point, std::uint64_t p) { return point.position < p; });
  std::size_t found = 0;
  // Every member has points, so `wanted` distinct ones turn up within one turn of the ring.
  for (std::size_t step = 0; step < ring_.size() && found < wanted; ++step) {
    if (at == ring_.end()) at = ring_.begin();
    const std::uint32_t member = at->member;
    if (std::find(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(found), member) ==
        out.begin() + static_cast<std::ptrdiff_t>(found)) {
      out[found++] = member;
    }
    ++at;
  }
  DRL_ASSERT(found == wanted, "a turn of the ring meets every member");
  return found;
}

std::uint64_t KeyOwners::first_owner_permille(std::uint32_t member) const {
  if (ring_.empty()) return 0;
  // A key is first owned by the member of the first point at or after its own: each point owns
  // the arc since the point before it (the first point, the arc around from the last).
  __extension__ using u128 = unsigned __int128;
  u128 owned = 0;
  for (std::size_t i = 0; i < ring_.size(); ++i) {
    if (ring_[i].member != member) continue;
    const std::uint64_t before = i == 0 ? ring_.back().position : ring_[i - 1].position;
    owned += static_cast<std::uint64_t>(ring_[i].position - before);  // modulo 2^64
  }
  if (ring_.size() == static_cast<std::size_t>(std::count_if(
                          ring_.begin(), ring_.end(),
                          [member](const Point& point) { return point.member == member; }))) {
    return 1000;  // a ring of one member owns all of it (its arcs add up to 2^64, which wraps)
  }
  return static_cast<std::uint64_t>((owned * 1000) >> 64);
}

}  // namespace drl::core
