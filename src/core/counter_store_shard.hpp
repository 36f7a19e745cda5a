// One shard of the counter store (internal: only the store's sources include this). A Robin
// Hood hash table of 32-byte entries, the pool of extra origin slots, and the floors of evicted
// keys; every member is used under the shard's mutex, except the counters stats() reads.
//
// What a check on a tracked key runs (lookup, slot of an origin, window roll, totals, view) is
// defined here, so that it inlines into the store's methods; making room for a new key
// (insertion, growth, eviction, floors of evicted keys) is in counter_store_shard.cpp. Members
// declared inline without a body here are defined there, in the one file that calls them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "core/counter_store.hpp"
#include "core/counter_window.hpp"
#include "core/origin_slot_index.hpp"
#include "core/time.hpp"

namespace drl::core {

// A tracked key: 32 bytes. Windows are identified by the low 32 bits of their id; the full id
// is recovered relative to now (entries are swept long before 2^31 windows pass).
struct Entry {
  std::uint64_t id = 0;  // 0: empty slot
  std::uint32_t window_low = 0;
  std::uint32_t window = 0;  // the window's length: window_code(window_ms)
  std::uint32_t origin = 0;  // the inline origin slot
  std::uint32_t previous = 0;
  std::uint32_t current = 0;
  std::uint32_t extra = 0;  // flag bits | (index + 1 of the first extra slot, 0 for none)
};
static_assert(sizeof(Entry) == 32, "the memory budget per key assumes 32-byte entries");

struct ExtraSlot {
  std::uint32_t origin = 0;
  std::uint32_t previous = 0;
  std::uint32_t current = 0;
  std::uint32_t next = 0;  // index + 1 of the next slot of the same key, or of the free list
};
static_assert(sizeof(ExtraSlot) == 16);

// The totals (all origins) of an evicted key in its two newest windows, remembered so that the
// key, checked or merged again while those windows matter, does not start from zero: its floor.
// Belongs to no origin, so it is never sent to peers; views take the larger of it and the sum
// of the origins' slots, never both, so slots that repair brings back are not counted twice.
struct EvictedFloor {
  std::uint64_t id = 0;          // 0: empty
  std::uint32_t window_low = 0;  // of its newest window, as Entry::window_low
  std::uint32_t window = 0;      // as Entry::window
  std::uint32_t previous = 0;
  std::uint32_t current = 0;
};
static_assert(sizeof(EvictedFloor) == 24, "docs/operations.md budgets 24 bytes per floor");

// Flags kept in the high bits of Entry::extra.
constexpr std::uint32_t kDeniedBit = 0x8000'0000U;           // a check was denied in this window
constexpr std::uint32_t kChangedBit = 0x4000'0000U;          // local counts not yet collected
constexpr std::uint32_t kPreviousChangedBit = 0x2000'0000U;  // ... some of them now in previous
constexpr std::uint32_t kFloorBit = 0x1000'0000U;            // came back with a floor: look it up
constexpr std::uint32_t kIndexedBit = 0x0800'0000U;          // its extra slots are in origin_index
constexpr std::uint32_t kOwnersTotalBit = 0x0400'0000U;      // has an owners_total_origin slot
constexpr std::uint32_t kOwnersAnsweredBit = 0x0200'0000U;   // ... set in its newest window
constexpr std::uint32_t kExtraMask = 0x01ff'ffffU;

// A key whose chain of extra slots reaches this length is indexed (OriginSlotIndex): from a
// cluster of 17 nodes on. Shorter chains are walked: up to there, walking them is as fast (they
// stay in cache) and costs no memory.
constexpr std::size_t kIndexChainFrom = 16;

// Robin Hood keeps probe sequences short enough at 7/8 load.
constexpr std::size_t kLoadNumerator = 7;
constexpr std::size_t kLoadDenominator = 8;
constexpr std::size_t kInitialCapacity = 64;
constexpr std::size_t kEvictionSample = 8;
constexpr std::size_t kSweepSlotsPerLock = 1024;

inline std::uint32_t saturating_add(std::uint32_t a, std::uint64_t b) {
  const std::uint64_t sum = static_cast<std::uint64_t>(a) + b;
  return sum > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                         : static_cast<std::uint32_t>(sum);
}

inline std::uint32_t clamp32(std::uint64_t value) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::uint32_t>::max()));
}

inline std::uint64_t entry_window(const Entry& entry, std::uint64_t now_window) {
  return window_from_low(entry.window_low, now_window);
}

// A key's totals over all origins: its newest window, and the counts of that window and the one
// before it.
struct Totals {
  std::uint64_t newest = 0;
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
};

// The floor's counts in the frame of a key whose newest window is `newest`. A floor is not ahead
// of its key (the key moves to the floor's window when the floor is applied, and the floor then
// moves only to the key's newest window), except when a peer's update moved the key 2^31
// windows or more ahead, so that its 32-bit window now reads as long past: a key that far off
// has no counts now, and its floor none either.
inline Totals floor_at(const EvictedFloor& floor, std::uint64_t newest, std::uint64_t now_window) {
  const std::uint64_t window = window_from_low(floor.window_low, now_window);
  if (window == newest) return {newest, floor.previous, floor.current};
  if (window + 1 == newest) return {newest, floor.current, 0};
  return {newest, 0, 0};
}

struct alignas(64) CounterStore::Shard {
  mutable std::mutex mutex;
  std::vector<Entry> table;
  std::size_t used = 0;
  std::size_t key_bound = 0;
  std::size_t capacity_max = 0;
  unsigned shard_bits = 0;

  std::vector<ExtraSlot> extra;  // grows up to extra_bound; freed slots form a list
  std::uint32_t extra_free = 0;  // index + 1
  std::size_t extra_used = 0;
  std::size_t extra_bound = 0;
  // The extra slots of keys with kIndexedBit, by (key id, origin).
  OriginSlotIndex origin_index;

  std::size_t sweep_cursor = 0;

  // Floors of evicted keys: 2-way set associative by id, the newer record of a pair first.
  // Empty until the shard first evicts a live key, then exactly 2 * floor_pairs records.
  std::vector<EvictedFloor> floors;
  std::size_t floor_pairs = 0;

  // Keys whose local counts changed since the last collect_changes (each listed once while
  // kChangedBit is set), when the store tracks changes for replication.
  bool track_changes = false;
  std::vector<std::uint64_t> changed;

  // Written under the mutex, read by stats() without it.
  std::atomic<std::uint64_t> inserts{0};
  std::atomic<std::uint64_t> evictions{0};
  std::atomic<std::uint64_t> evictions_denied{0};
  std::atomic<std::uint64_t> expirations{0};
  std::atomic<std::uint64_t> origin_slots_exhausted{0};
  std::atomic<std::uint64_t> adds_dropped{0};
  std::atomic<std::uint64_t> merges_stale{0};
  std::atomic<std::uint64_t> changes_unlisted{0};
  std::atomic<std::uint64_t> floors_applied{0};
  std::atomic<std::uint64_t> floors_lost{0};
  std::atomic<std::uint64_t> used_snapshot{0};
  std::atomic<std::uint64_t> memory_snapshot{0};

  static void bump(std::atomic<std::uint64_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  bool sizes_changed = false;   // since the last publish_sizes, under the mutex
  std::uint64_t mutations = 0;  // inserts and erases: positions may have moved

  void publish_sizes() {
    used_snapshot.store(used, std::memory_order_relaxed);
    memory_snapshot.store(table.capacity() * sizeof(Entry) + extra.capacity() * sizeof(ExtraSlot) +
                              origin_index.memory_bytes() +
                              changed.capacity() * sizeof(std::uint64_t) +
                              floors.capacity() * sizeof(EvictedFloor),
                          std::memory_order_relaxed);
  }

  std::size_t home(std::uint64_t id) const {
    // The top shard_bits select the shard; the rest spread keys over the table (fastrange).
    const std::uint64_t spread = shard_bits == 0 ? id : id << shard_bits;
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::size_t>((static_cast<u128>(spread) * table.size()) >> 64);
  }

  std::size_t distance(std::size_t pos, std::uint64_t id) const {
    const std::size_t h = home(id);
    return pos >= h ? pos - h : pos + table.size() - h;
  }

  std::size_t next(std::size_t pos) const { return pos + 1 == table.size() ? 0 : pos + 1; }

  static constexpr std::size_t npos = std::numeric_limits<std::size_t>::max();

  std::size_t find(std::uint64_t id) const {
    if (table.empty()) return npos;
    std::size_t pos = home(id);
    for (std::size_t dist = 0;; ++dist) {
      const Entry& entry = table[pos];
      if (entry.id == id) return pos;
      if (entry.id == 0 || distance(pos, entry.id) < dist) return npos;
      pos = next(pos);
    }
  }

  // Precondition: id is absent and used < table.size().
  inline std::size_t insert(Entry entry);

  void erase(std::size_t pos) {
    free_extra_chain(table[pos]);
    std::size_t after = next(pos);
    while (table[after].id != 0 && distance(after, table[after].id) > 0) {
      table[pos] = table[after];
      pos = after;
      after = next(after);
    }
    table[pos] = Entry{};
    --used;
    ++mutations;
    sizes_changed = true;
  }

  inline void grow_if_needed();

  void free_extra_chain(const Entry& entry) {
    const bool indexed = (entry.extra & kIndexedBit) != 0;
    std::uint32_t head = entry.extra & kExtraMask;
    while (head != 0) {
      ExtraSlot& slot = extra[head - 1];
      const std::uint32_t following = slot.next;
      if (indexed) origin_index.erase(entry.id, slot.origin);
      slot = ExtraSlot{};
      slot.next = extra_free;
      extra_free = head;
      --extra_used;
      head = following;
    }
  }

  // Index + 1 of a fresh slot, or 0 when the pool is at its bound. Other origins may not use
  // the last key_bound slots: those are kept for the local origin (one per key at most), so
  // that an admitted check is always counted.
  std::uint32_t allocate_extra(bool local) {
    if (!local && extra_used + key_bound >= extra_bound) return 0;
    if (extra_free != 0) {
      const std::uint32_t index = extra_free;
      extra_free = extra[index - 1].next;
      extra[index - 1] = ExtraSlot{};
      ++extra_used;
      return index;
    }
    if (extra.size() >= extra_bound || extra.size() >= kExtraMask) return 0;
    extra.emplace_back();
    sizes_changed = true;
    ++extra_used;
    return static_cast<std::uint32_t>(extra.size());
  }

  template <class Fn>
  void for_each_slot(const Entry& entry, Fn&& fn) const {
    fn(entry.origin, entry.previous, entry.current);
    for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
      const ExtraSlot& slot = extra[at - 1];
      fn(slot.origin, slot.previous, slot.current);
    }
  }

  // Moves the entry's newest window forward to `window` (> its current newest window).
  void roll(Entry& entry, std::uint64_t from_window, std::uint64_t to_window) {
    const bool adjacent = to_window == from_window + 1;
    auto shift = [adjacent](std::uint32_t& previous, std::uint32_t& current) {
      previous = adjacent ? current : 0;
      current = 0;
    };
    shift(entry.previous, entry.current);
    for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
      shift(extra[at - 1].previous, extra[at - 1].current);
    }
    entry.extra &= ~kOwnersAnsweredBit;  // the owners spoke of a window now over
    if (adjacent) {
      // Local counts not yet sent to peers moved to the previous window: send that one too.
      if ((entry.extra & kChangedBit) != 0) entry.extra |= kPreviousChangedBit;
    } else {
      entry.extra &= ~(kDeniedBit | kPreviousChangedBit);
    }
    entry.window_low = static_cast<std::uint32_t>(to_window);
  }

  // Index of the first record of the pair that holds `id`'s floor.
  std::size_t floor_pair_of(std::uint64_t id) const {
    const std::uint64_t mixed = (id ^ (id >> 31)) * 0x94d049bb133111ebULL;
    __extension__ using u128 = unsigned __int128;
    return 2 * static_cast<std::size_t>((static_cast<u128>(mixed) * floor_pairs) >> 64);
  }

  // `window`: the key's window_code.
  const EvictedFloor* find_floor(std::uint64_t id, std::uint32_t window) const {
    if (floors.empty()) return nullptr;
    const std::size_t at = floor_pair_of(id);
    for (std::size_t i = at; i < at + 2; ++i) {
      if (floors[i].id == id && floors[i].window == window) return &floors[i];
    }
    return nullptr;
  }

  EvictedFloor* find_floor(std::uint64_t id, std::uint32_t window) {
    return const_cast<EvictedFloor*>(std::as_const(*this).find_floor(id, window));
  }

  // The counts of the entry's slots in its two newest windows: the sum of its origins' slots,
  // or this node's own slot plus the owners' total of the others if that is larger (see
  // owners_total_origin). Not its floor.
  Totals slot_totals(const Entry& entry, std::uint64_t newest) const {
    Totals out{newest, 0, 0};
    for_each_slot(entry, [&](std::uint32_t, std::uint32_t p, std::uint32_t c) {
      out.previous += p;
      out.current += c;
    });
    // Most keys (every key in the mesh) have no owners' total: the sum of the origins' slots.
    if ((entry.extra & kOwnersTotalBit) != 0) [[unlikely]] {
      std::uint64_t own_previous = 0;
      std::uint64_t own_current = 0;
      std::uint64_t others_previous = 0;
      std::uint64_t others_current = 0;
      for_each_slot(entry, [&](std::uint32_t origin, std::uint32_t p, std::uint32_t c) {
        if (origin == owners_total_origin) {
          others_previous = p;
          others_current = c;
        } else if (origin == local_origin_index) {
          own_previous = p;
          own_current = c;
        }
      });
      out.previous = std::max(out.previous - others_previous, own_previous + others_previous);
      out.current = std::max(out.current - others_current, own_current + others_current);
    }
    return out;
  }

  // slot_totals(), raised to the entry's floor if it has one.
  Totals totals(const Entry& entry, std::uint64_t now_window) const {
    Totals out = slot_totals(entry, entry_window(entry, now_window));
    if ((entry.extra & kFloorBit) != 0) {
      if (const EvictedFloor* floor = find_floor(entry.id, entry.window); floor != nullptr) {
        const Totals least = floor_at(*floor, out.newest, now_window);
        out.previous = std::max(out.previous, least.previous);
        out.current = std::max(out.current, least.current);
      }
    }
    return out;
  }

  // The counts of `id` (at `entry`, or null if absent: then its floor, if it has a live one).
  // `newest_counted`, if given, tells whether the window checks count in is `entry`'s newest
  // (its slots' `current`), rather than one after it.
  // Inlined into both callers: it is most of a check's read (g++ stops inlining it on its own
  // once it has two).
  [[gnu::always_inline]] CounterView view(std::uint64_t id, const Entry* entry,
                                          std::uint64_t window_ms, WallTime now,
                                          bool* newest_counted = nullptr) const {
    const std::uint64_t now_window = window_id_at(now, window_ms);
    const auto now_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0));
    CounterView out;
    out.window_id = now_window;
    out.elapsed_ms = now_ms - now_window * window_ms;
    Totals seen;
    if (entry != nullptr) {
      seen = totals(*entry, now_window);
    } else if (const EvictedFloor* floor = find_floor(id, window_code(window_ms));
               floor != nullptr) {
      seen = {window_from_low(floor->window_low, now_window), floor->previous, floor->current};
    } else {
      return out;
    }
    const std::uint64_t newest = seen.newest;
    if (newest + 2 <= now_window) return out;
    const std::uint64_t previous = seen.previous;
    const std::uint64_t current = seen.current;
    if (newest + 1 == now_window) {
      out.counts = {current, 0};
    } else {
      out.counts = {previous, current};
      if (newest_counted != nullptr) *newest_counted = true;
      if (newest > now_window) {
        // Another node's clock is ahead and its counts already moved to a later window: decide
        // as at that window's start (conservative, and continuous with the end of ours).
        out.window_id = newest;
        out.elapsed_ms = 0;
        out.lead_ms = newest * window_ms - now_ms;
      }
    }
    return out;
  }

  // Sum of both windows' counts as seen now; expired entries weigh nothing.
  inline std::uint64_t weight(const Entry& entry, WallTime now) const;

  // Remembers the totals of `entry`, about to be evicted. The new record goes first in its pair
  // and pushes out, by preference, the key's own earlier record, an empty or expired one, else
  // the older one (counted in floors_lost), but never the floor of `keep`, the key being
  // inserted. Recency, not weight, decides: floors matter only until the key returns or repair
  // restores it, and a flood that evicts a key must be heavier than it, so keeping the heavier
  // records would keep the flood's.
  inline void remember_floor(const Entry& entry, std::uint64_t keep, WallTime now);

  // A key just inserted at `pos` in window `window`: if it was evicted while its windows still
  // matter, its floor applies (the key moves to the floor's window if that is later).
  inline void apply_floor(std::size_t pos, std::uint64_t window, WallTime now);

  // A local count on a key with a floor raises the floor as well: the floor stands for what the
  // key had counted at eviction, and the local slot started again from zero. Drops a floor that
  // was pushed out or no longer reaches the key's windows.
  void add_to_floor(Entry& entry, std::uint64_t now_window, std::uint32_t cost) {
    EvictedFloor* floor = find_floor(entry.id, entry.window);
    const std::uint64_t newest = entry_window(entry, now_window);
    const Totals least = floor == nullptr ? Totals{} : floor_at(*floor, newest, now_window);
    if (least.previous == 0 && least.current == 0) {
      if (floor != nullptr) *floor = EvictedFloor{};
      entry.extra &= ~kFloorBit;
      return;
    }
    floor->window_low = static_cast<std::uint32_t>(newest);
    floor->previous = clamp32(least.previous);
    floor->current = saturating_add(clamp32(least.current), cost);
  }

  // Once the origins' own slots reach the floor in both windows (repair brought them back), the
  // floor can never matter again: local counts raise both alike, merges only the slots, and
  // windows move both alike. Its record is freed.
  void drop_floor_if_covered(Entry& entry, std::uint64_t now_window) {
    EvictedFloor* floor = find_floor(entry.id, entry.window);
    if (floor != nullptr) {
      const std::uint64_t newest = entry_window(entry, now_window);
      const Totals least = floor_at(*floor, newest, now_window);
      const Totals slots = slot_totals(entry, newest);
      if (slots.previous < least.previous || slots.current < least.current) return;
      *floor = EvictedFloor{};
    }
    entry.extra &= ~kFloorBit;
  }

  // Frees one table slot by evicting the lightest of a sample, never one of `protect`.
  // Returns false if every sampled key is protected.
  bool evict_one(std::uint64_t incoming, std::span<const std::uint64_t> protect, WallTime now);

  struct SlotRef {
    std::uint32_t* previous = nullptr;
    std::uint32_t* current = nullptr;
  };

  // `origin`'s count in `entry`'s newest window (0 if it has no slot there): a lookup that
  // creates nothing.
  std::uint32_t current_of(const Entry& entry, std::uint32_t origin) const {
    if (entry.origin == origin) return entry.current;
    if ((entry.extra & kIndexedBit) != 0) {
      const std::uint32_t at = origin_index.find(entry.id, origin);
      return at == 0 ? 0 : extra[at - 1].current;
    }
    for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
      if (extra[at - 1].origin == origin) return extra[at - 1].current;
    }
    return 0;
  }

  // The slot of `origin` in `entry`, created if missing; empty when the pool is full. A short
  // chain is walked (a new slot goes last); a long one is looked up in origin_index (a new slot
  // goes first, without a walk).
  SlotRef slot_of(Entry& entry, std::uint32_t origin, bool local) {
    if (entry.origin == origin) return {&entry.previous, &entry.current};
    const bool indexed = (entry.extra & kIndexedBit) != 0;
    std::uint32_t last = 0;
    std::size_t length = 0;
    if (indexed) {
      if (const std::uint32_t at = origin_index.find(entry.id, origin); at != 0) {
        return {&extra[at - 1].previous, &extra[at - 1].current};
      }
    } else {
      for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
        if (extra[at - 1].origin == origin) {
          return {&extra[at - 1].previous, &extra[at - 1].current};
        }
        last = at;
        ++length;
      }
    }
    const std::uint32_t fresh = allocate_extra(local);
    if (fresh == 0) {
      bump(origin_slots_exhausted);
      return {};
    }
    extra[fresh - 1].origin = origin;
    if (indexed) {
      extra[fresh - 1].next = entry.extra & kExtraMask;
      entry.extra = (entry.extra & ~kExtraMask) | fresh;
      origin_index.insert(entry.id, origin, fresh);
      sizes_changed = true;
    } else {
      if (last == 0) {
        entry.extra = (entry.extra & ~kExtraMask) | fresh;
      } else {
        extra[last - 1].next = fresh;
      }
      if (length + 1 >= kIndexChainFrom) {
        for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
          origin_index.insert(entry.id, extra[at - 1].origin, at);
        }
        entry.extra |= kIndexedBit;
        sizes_changed = true;
      }
    }
    return {&extra[fresh - 1].previous, &extra[fresh - 1].current};
  }

  // Position of `id`, inserted (evicting if the shard is full) if absent; npos if no room.
  std::size_t find_or_insert(std::uint64_t id, std::uint64_t window_ms, std::uint64_t window,
                             std::uint32_t origin, std::span<const std::uint64_t> protect,
                             WallTime now);
};

}  // namespace drl::core
