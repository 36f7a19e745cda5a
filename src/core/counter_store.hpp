// The counter store: per (rule, key) hash, a G-counter per window with one slot per origin.
//
// Sharded by the top bits of the counter id, one mutex per shard: checks on keys in different
// shards never wait on each other, and there is no lock over the whole store. Each shard is a
// Robin Hood hash table of 32-byte entries holding the newest window and the one before it, with
// one origin slot inline and further origins' slots in a per-shard pool.
//
// Memory is bounded: each shard tracks at most max_keys / shards keys; inserting beyond that
// evicts the lightest of a small sample of keys (expired first, keys that were denied in their
// window last), and counts it. An evicted key's totals are remembered in a small fixed table (one
// record per bounds::store_keys_per_evicted_floor keys, newest evictions kept): a key that comes
// back while its windows matter reads as at least those totals (its floor) until its origins'
// slots reach them again, so eviction does not reset it to zero. A floor belongs to no origin and
// is never collected for peers.
//
// Thread-safety: every method may be called from any thread. Locked is used by one thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "core/algorithm.hpp"
#include "core/bounds.hpp"
#include "core/time.hpp"

namespace drl::core {

struct StoreOptions {
  std::size_t max_keys = bounds::store_keys_default;
  std::size_t shards = bounds::store_shards_default;  // a power of two
  // Remember which keys the local origin counted, for collect_changes (replication).
  bool track_changes = false;
};

struct StoreStats {
  std::uint64_t keys = 0;                    // tracked now
  std::uint64_t key_bound = 0;               // max_keys, as rounded to whole shards
  std::uint64_t memory_bytes = 0;            // tables, slot pools, change lists, floor tables
  std::uint64_t inserts = 0;                 // keys created
  std::uint64_t evictions = 0;               // live keys dropped to make room (floor remembered)
  std::uint64_t evictions_denied = 0;        // ... of which had been denied in their window
  std::uint64_t expirations = 0;             // keys dropped because their windows were over
  std::uint64_t origin_slots_exhausted = 0;  // peers' updates dropped: no room for their origin
  std::uint64_t adds_dropped = 0;            // increments dropped: shard full of protected keys
  std::uint64_t merges_stale = 0;            // merged updates for windows no longer kept
  std::uint64_t changes_unlisted = 0;        // changes left to anti-entropy: change list full
  std::uint64_t floors_applied = 0;          // evicted keys counted again from their floor
  std::uint64_t floors_lost = 0;             // live floors pushed out by newer evictions
};

// The origin index of this node's own counts (OriginTable::local_index).
inline constexpr std::uint32_t local_origin_index = 0;

// A slot that belongs to no origin: what the key's owners last said all origins other than this
// node counted (owner dissemination, docs/replication.md). A key's count in a window is then the
// larger of the sum of its origins' slots and this node's own slot plus this one, never both, so
// that origins known both ways are not counted twice. Never sent to peers, saved, or named.
inline constexpr std::uint32_t owners_total_origin = 0xFFFF'FFFEU;

// One origin's absolute count of one key in one window: the unit of replication.
struct SlotUpdate {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;
  std::uint32_t origin = 0;
  std::uint32_t count = 0;
  bool operator==(const SlotUpdate&) const = default;
};

// Where a full sweep of the store (anti-entropy) stands.
struct SweepCursor {
  std::size_t shard = 0;
  std::size_t position = 0;
  bool completed = false;  // the last call reached the end (and the cursor restarted)
};

// One key's counts as seen from `now`: the inputs of the limiting algorithm.
struct CounterView {
  WindowCounts counts;
  std::uint64_t window_id = 0;  // of counts.current; counts.previous is window_id - 1's
  std::uint64_t elapsed_ms = 0;
  std::uint64_t lead_ms = 0;
};

// The counts of one origin in one key's two newest windows.
struct OriginCounts {
  std::uint32_t origin = 0;
  std::uint64_t window_id = 0;  // of `current`; `previous` belongs to window_id - 1
  std::uint32_t previous = 0;
  std::uint32_t current = 0;
};

class CounterStore {
 public:
  class Locked;

  // Precondition: options.shards is a power of two in [1, bounds::store_shards_max] and
  // options.max_keys in [store_keys_min, store_keys_max]. Fails fast otherwise.
  explicit CounterStore(StoreOptions options);
  ~CounterStore();
  CounterStore(const CounterStore&) = delete;
  CounterStore& operator=(const CounterStore&) = delete;

  // Locks the shards that hold `ids` (ascending shard order, so two lockers never deadlock).
  // The ids are also protected from eviction while the lock is held. `ids` must outlive the
  // returned object and hold at most bounds::limits_per_check_max entries.
  Locked lock(std::span<const std::uint64_t> ids);

  // Drops keys whose windows are all over. Examines at most `budget` table slots, continuing
  // where the previous call stopped; returns the number of keys dropped.
  std::size_t expire(WallTime now, std::size_t budget);

  // The local counts of `origin` that changed since the previous call (keys counted with
  // track_changes on): current values of their newest window, and of the previous one when
  // counts moved there before being collected. At most `max_updates` are appended to `out`;
  // the rest stay listed for the next call. Returns the number appended.
  std::size_t collect_changes(WallTime now, std::uint32_t origin, std::vector<SlotUpdate>& out,
                              std::size_t max_updates);

  // Every nonzero slot of every origin in windows still in use, continuing a sweep at
  // `cursor`: at most `max_updates` appended. A key's slots are never split across calls.
  std::size_t collect_all(WallTime now, SweepCursor& cursor, std::vector<SlotUpdate>& out,
                          std::size_t max_updates);

  // Whether no shard holds a key now (each shard's count read under its lock): a sweep would
  // collect nothing, and need not walk the tables to find that out.
  bool empty() const;

  StoreStats stats() const;
  std::size_t shard_count() const { return shard_count_; }

  struct Shard;

 private:
  std::size_t shard_of(std::uint64_t id) const {
    return static_cast<std::size_t>(shard_shift_ == 64 ? 0 : id >> shard_shift_);
  }

  std::size_t shard_count_;
  unsigned shard_bits_;
  unsigned shard_shift_ = 64;  // 64 - shard_bits_ (64: one shard)
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::size_t> sweep_shard_{0};
  std::size_t collect_shard_ = 0;  // collect_changes caller's thread only
};

// Proof that the shards of a set of ids are locked. Every id passed to its methods must be one
// of the ids given to CounterStore::lock, and every window_ms must pass bounds::window_ms_valid.
class CounterStore::Locked {
 public:
  Locked(Locked&& other) noexcept;
  Locked& operator=(Locked&&) = delete;
  ~Locked();

  // The counts of `id` for windows of `window_ms`: per window, the sum of its origins' slots or
  // its floor, whichever is larger (an absent key reads as its floor if it was evicted while its
  // windows still matter, else as zero).
  CounterView view(std::uint64_t id, std::uint64_t window_ms, WallTime now) const;

  // view(), and what `origin` counted of `id` in the window a check counts in (`own`), as a
  // hard limit reads it: at least that origin's slot. A key that came back from an eviction (its
  // counts a floor, no origin's) reads as its total, which is at least the origin's part.
  CounterView view_with_own(std::uint64_t id, std::uint64_t window_ms, WallTime now,
                            std::uint32_t origin, std::uint64_t& own) const;

  // What `origin` counted of `id` in window `window_id`, if the store can tell: 0 for a window
  // it has not reached; nullopt for one it no longer holds, or a key back from an eviction (its
  // counts a floor, no origin's).
  std::optional<std::uint64_t> own_in_window(std::uint64_t id, std::uint64_t window_ms,
                                             std::uint64_t window_id, WallTime now,
                                             std::uint32_t origin) const;

  // Adds `cost` to `origin`'s slot of the window holding `now`, creating the key if needed.
  // `evict_last`: as mark_denied() does, in the same lookup (a hard limit's count).
  void add(std::uint64_t id, std::uint64_t window_ms, WallTime now, std::uint32_t origin,
           std::uint32_t cost, bool evict_last = false);

  // G-counter merge: `origin` has counted `count` in window `window_id` (an absolute value, so
  // merging the same update twice, late or out of order changes nothing). Each slot keeps the
  // maximum it has seen. Only the two newest windows are kept; updates for older windows, or
  // for windows that `now` already left behind, are dropped (returns false).
  bool merge(std::uint64_t id, std::uint64_t window_ms, WallTime now, std::uint32_t origin,
             std::uint64_t window_id, std::uint32_t count);

  // Whether this node hears what the other nodes count of `id` in the window holding `now`,
  // through key owners: it counted the key (itself, or as an origin's slot) in that window or
  // the one before, so the owners send it their totals, or the owners' total of that window
  // came in (even a zero: an answer to a request). A key's first check waits for it when it
  // does not (core/totals_requests.hpp).
  bool heard_from_owners(std::uint64_t id, std::uint64_t window_ms, WallTime now) const;

  // Remembers that a check on `id` was denied in its current window: such keys are evicted
  // last, so flooding the store with new keys cannot reset an abuser's count.
  void mark_denied(std::uint64_t id);

  // Every origin's slots of `id`, newest window first (empty if the key is not tracked). A
  // floor is no origin's and is not listed: view() may exceed the sum of these.
  std::vector<OriginCounts> origins(std::uint64_t id, std::uint64_t window_ms, WallTime now) const;

 private:
  friend class CounterStore;
  Locked(CounterStore& store, std::span<const std::uint64_t> ids);
  Shard& shard_for(std::uint64_t id) const;

  // The last key looked up, so that a view followed by an add finds it once. `mutations` tells
  // whether an insert or erase in its shard may have moved it since.
  mutable std::uint64_t found_id_ = 0;
  mutable std::size_t found_pos_ = 0;
  mutable std::uint64_t found_mutations_ = 0;

  CounterStore* store_;
  std::span<const std::uint64_t> ids_;
  std::size_t locked_count_ = 0;
  std::uint16_t locked_[bounds::limits_per_check_max];  // the first locked_count_ are set
};

}  // namespace drl::core
