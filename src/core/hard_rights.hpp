// Hard limits (a policy's enforcement = "hard"): the checks the whole cluster admits in a window
// never exceed the limit, because each node admits only what its own rights cover and the rights
// of a window add up to the limit (docs/replication.md, "Hard limits").
//
// The rights of every window are split among the members of a universe that every node lists
// the same way: this node's address and the configured peers ([cluster] peers; seeds are refused
// with hard limits). Each member gets limit / members, and the first limit % members members of
// the universe sorted by address one more, so that the shares add up to the limit exactly. A
// node that cannot place itself in that order (it has no address of its own to sort, or a peer's
// name did not resolve) takes limit / members only: without agreement on the order, two nodes
// could both take the same extra one. A node has no rights in a window that begins before its
// start plus the cluster's clock_skew_max: its earlier life may have counted there, in its own
// windows or, through a peer whose clock is ahead, in the next ones, and that count is lost.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace drl::core {

enum class Enforcement : std::uint8_t {
  approximate,  // the cluster's estimate decides: a bounded overshoot when gossip is late
  hard,         // each node's own rights decide: never over the limit, some false rejects
};

constexpr std::string_view enforcement_name(Enforcement enforcement) {
  return enforcement == Enforcement::hard ? "hard" : "approximate";
}

struct RightsSplit {
  static constexpr std::uint32_t unranked = 0xffff'ffffU;

  std::uint32_t members = 1;  // size of the universe, >= 1
  std::uint32_t rank = 0;     // this node's place in the sorted universe, or unranked
  // No rights in windows that begin before this (wall time, milliseconds): the node's start
  // plus clock_skew_max, or later while the members have not agreed (rights_ledger.hpp).
  std::int64_t rights_from_unix_ms = 0;
  // Names the universe (its addresses and how many peers did not resolve), so that nodes can
  // tell whether they list the same members: heartbeats carry it. Never 0.
  std::uint64_t members_digest = 1;
};

// The split for the node at address `self` (empty: unknown) among the configured peers `peers`
// (duplicates and `self` among them counted once) and `unresolved_peers` more that have no
// address yet.
RightsSplit rights_split_of(std::string_view self, std::span<const std::string> peers,
                            std::size_t unresolved_peers, std::int64_t rights_from_unix_ms);

// The first window of `window_ms` that begins at or after `rights_from_unix_ms` (a split's):
// the first in which the node has rights.
std::uint64_t first_window_with_rights(std::int64_t rights_from_unix_ms, std::uint64_t window_ms);
inline std::uint64_t first_window_with_rights(const RightsSplit& split, std::uint64_t window_ms) {
  return first_window_with_rights(split.rights_from_unix_ms, window_ms);
}

// The share of a window that has one (one with `first_window_with_rights` or later) of the node
// at `rank` among `members` (a split's fields).
inline std::uint64_t share_of(std::uint32_t members, std::uint32_t rank, std::uint64_t limit) {
  const std::uint64_t whole = limit / members;
  // The remainder is below `members`, so an unranked node (rank 0xffffffff) never gets one.
  const bool extra = rank < limit - whole * members;
  return whole + (extra ? 1 : 0);
}
inline std::uint64_t share_of(const RightsSplit& split, std::uint64_t limit) {
  return share_of(split.members, split.rank, limit);
}

// This node's rights in window `window_id` of a limit of `limit` per `window_ms`.
std::uint64_t rights_in_window(const RightsSplit& split, std::uint64_t limit,
                               std::uint64_t window_id, std::uint64_t window_ms);

}  // namespace drl::core
