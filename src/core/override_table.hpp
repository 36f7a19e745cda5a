// Runtime overrides of limits, cluster-wide: one last-writer-wins register per scope
// (policy, tier, endpoint, window, and optionally one key), ordered by hybrid logical clock
// stamps.
//
// An override sets the limit in force (`limit`) or scales it (`factor_permille`) for every limit
// of its scope until `expires_wall_ms`; a key-scoped one may also block its key. A key reset is a
// record of the same table (scope.counts_reset): the counts of the key's counters at the moment
// of the reset, which every node subtracts from what it sees in those windows (ResetMark). Clearing
// writes a tombstone: a newer write that says "nothing here". Any node may write; every node merges
// what it receives, keeping per scope the record with the largest stamp, so that all nodes that
// have seen the same records agree, whatever the order they arrived in (the merge is commutative,
// associative and idempotent).
//
// A record that has expired, and a tombstone, stay in the table as tombstones until
// `retain_until_wall_ms` (the latest expiry of anything they superseded), so that a copy of an
// older record still travelling between nodes cannot come back to life; then they are dropped.
//
// Thread-safe: set, clear and merge come from client workers and the replication thread; the
// check path never reads the table (it reads the policy set the daemon derives from it).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/bounds.hpp"
#include "core/hybrid_clock.hpp"
#include "core/time.hpp"

namespace drl::core {

struct OverrideScope {
  OverrideScope() = default;
  // Braces name the fields in order, leaving out the trailing ones that are unset.
  explicit(false) OverrideScope(std::string policy_name, std::string tier_name = {},
                                std::string endpoint_name = {}, std::uint64_t window = 0,
                                std::string key_name = {}, bool reset = false)
      : policy(std::move(policy_name)),
        tier(std::move(tier_name)),
        endpoint(std::move(endpoint_name)),
        window_ms(window),
        key(std::move(key_name)),
        counts_reset(reset) {}

  std::string policy;           // required
  std::string tier;             // "" : every tier
  std::string endpoint;         // "" : every limit of the policy; else the limits of that endpoint
                                // (as configured: "GET /v1/*" names the prefix endpoint)
  std::uint64_t window_ms = 0;  // 0: every window; else only the limit with that window
  std::string key;              // "" : every key; else that key only (a key-scoped record)
  // A key reset (OverrideKind::reset and its tombstone), not an override: a register of its own,
  // so that resetting a key never replaces an override of the same scope.
  bool counts_reset = false;

  auto operator<=>(const OverrideScope&) const = default;
};

enum class OverrideKind : std::uint8_t {
  cleared = 0,  // a tombstone
  limit = 1,    // the limit in force is `value`
  factor = 2,   // the limit in force is max(1, floor(configured * value / 1000))
  block = 3,    // every check of the key is denied (key-scoped records only)
  reset = 4,    // the key's counts up to `marks` are forgotten (key-scoped records only)
};

// What a key reset forgets of one counter: the totals over all origins that the resetting node
// saw in the window that held the reset (`current`) and in the one before (`previous`). Every
// node subtracts them from its own totals of those windows: counts are absolute per origin, so a
// late or replayed datagram carrying the old counts cannot bring them back.
struct ResetMark {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;  // of `current`; `previous` belongs to window_id - 1
  std::uint64_t current = 0;
  std::uint64_t previous = 0;
  bool operator==(const ResetMark&) const = default;
};

struct OverrideRecord {
  OverrideScope scope;
  OverrideKind kind = OverrideKind::cleared;
  std::uint64_t value = 0;  // limit, or factor in thousandths
  std::int64_t set_wall_ms = 0;
  std::int64_t expires_wall_ms = 0;
  std::int64_t retain_until_wall_ms = 0;  // >= expires_wall_ms
  std::string reason;
  HlcStamp stamp;                // stamp.node_id: the node that wrote it
  std::vector<ResetMark> marks;  // OverrideKind::reset only
  bool operator==(const OverrideRecord&) const = default;

  bool active(WallTime now) const {
    return kind != OverrideKind::cleared && now.unix_ms < expires_wall_ms;
  }
};

// Bounds of records and their fields; a record outside them is refused (and counted).
struct OverrideLimits {
  std::size_t records_max = 1024;  // tombstones included
  std::int64_t ttl_ms_max = 7LL * 24 * 3600 * 1000;
  std::size_t reason_bytes_max = 256;
  // A stamp further ahead of our wall clock than this is refused: a node with a clock that far
  // off would otherwise drag every clock of the cluster with it.
  std::int64_t future_ms_max = 3600 * 1000;
  std::uint64_t factor_permille_max = 100'000;  // up to 100 times the configured limit
  // A key reset lasts until the windows it marks are over: at most two of the longest window.
  std::int64_t reset_ttl_ms_max = 2 * static_cast<std::int64_t>(bounds::window_ms_max);
};

struct OverrideStats {
  std::uint64_t set = 0;         // local writes (sets and clears)
  std::uint64_t merged = 0;      // received records that won
  std::uint64_t restored = 0;    // records read back from the state file that were taken
  std::uint64_t stale = 0;       // received records that lost (or were already known)
  std::uint64_t refused = 0;     // received records outside the bounds
  std::uint64_t table_full = 0;  // records dropped: records_max reached
  std::uint64_t expired = 0;     // active overrides that reached their expiry (not resets)
  std::uint64_t dropped = 0;     // tombstones dropped after retain_until
};

class OverrideTable {
 public:
  OverrideTable(std::string node_id, OverrideLimits limits = {});

  // A local write. Returns the record as stored, or an error message (empty on success) in
  // `error`: out-of-bounds fields, or the table is full.
  // A reset (OverrideKind::reset) carries `marks` and lasts ttl_ms.
  OverrideRecord set(const OverrideScope& scope, OverrideKind kind, std::uint64_t value,
                     std::int64_t ttl_ms, std::string reason, WallTime now, std::string& error,
                     std::vector<ResetMark> marks = {});
  // Tombstones the scope's record, if it has an active one. Returns whether one was active.
  bool clear(const OverrideScope& scope, WallTime now);
  // Tombstones every active override (key resets stay); returns how many.
  std::size_t clear_all(WallTime now);

  // Merges records received from a peer; returns how many changed the table.
  // `from_state_file`: the records are this node's saved table read back at start, counted as
  // restored rather than merged.
  std::size_t merge(const std::vector<OverrideRecord>& records, WallTime now,
                    bool from_state_file = false);

  // Turns expired records into tombstones and drops tombstones past retain_until. Returns true
  // if the set of active records changed.
  bool expire(WallTime now);

  std::vector<OverrideRecord> active(WallTime now) const;
  // Every record, tombstones included: what a node hands to its peers.
  std::vector<OverrideRecord> records() const;
  // Moves on every change of the table (a cheap way to notice one: lock-free).
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
  OverrideStats stats() const;
  const OverrideLimits& limits() const { return limits_; }

 private:
  // Validates a record's fields; returns an error message or "".
  std::string invalid(const OverrideRecord& record, WallTime now) const;
  // Stores `record` if it wins over the scope's current one; true if it did.
  bool put(OverrideRecord record, WallTime now, bool& full);

  const OverrideLimits limits_;
  mutable std::mutex mutex_;
  HybridClock clock_;
  std::vector<OverrideRecord> records_;    // sorted by scope
  std::atomic<std::uint64_t> version_{0};  // read without the lock: polled per datagram
  OverrideStats stats_;
};

std::string_view override_kind_name(OverrideKind kind);
// How long a reset with `marks` must last: until the last window it marks (or the one after it,
// which a sliding window still weighs) is over.
std::int64_t reset_lasts_ms(const std::vector<ResetMark>& marks, WallTime now);
// "policy 'api', tier 'free', endpoint 'POST /login', window 1m, key 'k'": for logs and answers.
std::string describe_scope(const OverrideScope& scope);
// "limit 50", "factor 0.5", "block" or "reset".
std::string describe_value(OverrideKind kind, std::uint64_t value);

}  // namespace drl::core
