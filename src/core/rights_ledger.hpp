// Rights of hard limits that move between nodes (docs/replication.md, "Hard limits"). A node
// short of rights for a (counter, window) asks a peer; a peer with spare rights deducts them
// from its own before it grants them, and says so as the total it has granted that node in that
// window: a grow-only, absolute record, so that a duplicate, late or replayed grant adds
// nothing. A node's rights in a window are then its share (hard_rights.hpp) plus what it was
// granted less what it granted; what it was granted counts only for the incarnation it was
// granted to, so a restarted node cannot spend its earlier life's grants again.
//
// Threads: checks read and want under their counter's store shard lock; the replication thread
// merges grants (which only add rights) and gives (under the counter's store shard lock, so that
// a grant and a check of the same counter never overlap). One mutex guards the ledger, taken
// after a shard lock, never before one.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/hard_rights.hpp"
#include "core/time.hpp"

namespace drl::core {

struct RightsKey {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;
  bool operator==(const RightsKey&) const = default;
};

// A request for rights waiting to go out.
struct RightsWant {
  RightsKey key;
  std::uint64_t limit = 0;   // the limit in force where it was wanted (the donor splits it too)
  std::uint64_t amount = 0;  // how many rights to ask for
  std::uint32_t asks = 0;    // requests already sent for this key: which peer is asked next
};

struct RightsStats {
  std::uint64_t entries_refused = 0;  // bounds::rights_entries_max reached: nothing recorded
  std::uint64_t wants_dropped = 0;    // bounds::rights_wants_max reached
  std::uint64_t granted = 0;          // rights this node gave away
  std::uint64_t received = 0;         // rights granted to this node (merged increases)
};

class RightsLedger {
 public:
  explicit RightsLedger(RightsSplit split = {})
      : split_(split), rights_from_unix_ms_(split.rights_from_unix_ms) {}
  RightsLedger(const RightsLedger&) = delete;
  RightsLedger& operator=(const RightsLedger&) = delete;

  // This node's share of every window; set before the first check (drld knows its peers only
  // once its socket is bound).
  void set_split(const RightsSplit& split);
  // The split as of now: its rights_from_unix_ms is later than set while the members have not
  // agreed (a copy: the replication thread moves it).
  RightsSplit split() const {
    RightsSplit out = split_;
    out.rights_from_unix_ms = rights_from_unix_ms_.load(std::memory_order_acquire);
    return out;
  }
  // The split's fields that every check of a hard limit reads, without a copy of the rest.
  std::uint32_t members() const { return split_.members; }
  std::uint32_t rank() const { return split_.rank; }
  std::int64_t rights_from_unix_ms() const {
    return rights_from_unix_ms_.load(std::memory_order_acquire);
  }

  // A member of a cluster takes no share until every other member has named the same members
  // (the split's members_digest, in their heartbeats since this node started): a node that
  // lists other members would count shares that do not add up to the limit with ours, as
  // during a change of the members (docs/replication.md, "Changing the members"). Set before
  // the first check; then, on the replication thread, members_agreed() when they have.
  void await_members(std::int64_t clock_skew_max_ms);
  bool awaiting_members() const { return awaiting_members_.load(std::memory_order_acquire); }
  // Every other member named this node's members, the last at `wall`: shares begin with the
  // windows that begin at or after `wall` plus clock_skew_max (a member's earlier life, which
  // may have listed other members, ended before it was heard; its counts landed in windows
  // its clock, at most clock_skew_max ahead of ours, had reached), and not before the split's
  // rights_from.
  void members_agreed(WallTime wall);

  // What this node was granted less what it granted, for `key` (0 if nothing moved). Without a
  // lock while no rights have moved at all.
  std::int64_t net(const RightsKey& key) const { return any_moved() ? net_locked(key) : 0; }
  // Whether any rights moved at all (so far, while the node runs): if not, net() is 0 for every
  // key, and a check need not build one.
  bool any_moved() const { return size_.load(std::memory_order_acquire) != 0; }

  // A check is (or is about to be) short of rights for `key`: a request goes out at the next
  // round, unless one is already waiting. Returns whether a request is waiting or on its way
  // (false once every peer in turn had nothing to spare there, or without room to record it).
  bool want(const RightsKey& key, std::uint64_t limit, std::uint64_t amount);
  // How many answers to requests of this node were merged so far: a check waiting for a grant
  // looks again when it moves.
  std::uint64_t answers_merged() const { return answers_merged_.load(std::memory_order_seq_cst); }
  // The requests waiting, at most `max` (the others stay for the next round).
  std::vector<RightsWant> take_wants(std::size_t max);
  // Whether any request is waiting (each gossip round asks, before it looks for peers to ask).
  bool has_wants() const;

  // `donor` (an origin index) answered a request for `key`: it has granted this node `total`
  // rights there in all. Returns the increase (0 for a duplicate, an older record, or a donor
  // with nothing to spare). The next request for `key` may go out; once every other member
  // (`members` - 1) had nothing to spare since the last grant, none does for this window.
  std::uint64_t answered(const RightsKey& key, std::uint32_t donor, std::uint64_t total,
                         std::uint32_t members);
  // Records that this node grants `amount` more to `recipient` (an origin index); returns the
  // total granted to it for `key`, or nullopt if there is no room to record it (then nothing is
  // granted). The caller has checked that the rights are spare, under the counter's shard lock.
  std::optional<std::uint64_t> give(const RightsKey& key, std::uint32_t recipient,
                                    std::uint64_t amount);
  // The donors (origin indices) that had nothing to spare for `key` since its last grant: the
  // next request goes to another member.
  std::vector<std::uint32_t> refused_by(const RightsKey& key) const;
  // The total granted to `recipient` for `key` so far.
  std::uint64_t given_to(const RightsKey& key, std::uint32_t recipient) const;

  // Forgets the windows that ended before the one before `now`, and lets a request whose answer
  // was lost go out again.
  void expire(WallTime now);

  std::size_t size() const;
  RightsStats stats() const;

 private:
  struct KeyHash {
    std::size_t operator()(const RightsKey& key) const {
      return static_cast<std::size_t>(key.counter_id ^ (key.window_id * 0x9e3779b97f4a7c15ULL) ^
                                      key.window_ms);
    }
  };
  struct Grant {
    std::uint32_t origin = 0;
    std::uint64_t total = 0;
    bool refused = false;  // received only: it had nothing to spare since the last grant
  };
  struct Entry {
    std::vector<Grant> received;  // by donor: the largest total heard
    std::vector<Grant> given;     // by recipient: what this node granted in all
    std::uint64_t received_sum = 0;
    std::uint64_t given_sum = 0;
    std::uint32_t asks = 0;
    bool wanted = false;     // a request is waiting in wants_
    bool in_flight = false;  // a request went out, not answered yet
    bool exhausted = false;  // every other member had nothing to spare: no more requests
  };

  std::int64_t net_locked(const RightsKey& key) const;

  // The entry of `key`, created if there is room; null otherwise (counted).
  Entry* entry_for(const RightsKey& key);

  RightsSplit split_;
  // split_.rights_from_unix_ms, or later while awaiting the members: read by every check.
  std::atomic<std::int64_t> rights_from_unix_ms_;
  std::atomic<bool> awaiting_members_{false};
  std::atomic<std::uint64_t> answers_merged_{0};
  std::int64_t clock_skew_max_ms_ = 0;
  mutable std::mutex mutex_;
  std::unordered_map<RightsKey, Entry, KeyHash> entries_;
  std::vector<RightsWant> wants_;
  // entries_.size(), readable without the lock: a check of a node that never exchanged rights
  // does not take it.
  std::atomic<std::size_t> size_{0};
  RightsStats stats_;
};

}  // namespace drl::core
