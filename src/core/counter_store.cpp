#include "core/counter_store.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "core/assert.hpp"

namespace drl::core {
namespace {

// A window length in 32 bits: milliseconds up to bounds::window_ms_any_max (31 days, below
// 2^32), else kLongWindowCode plus whole seconds (up to 366 days). Every window drl accepted
// before it took windows over 31 days keeps its plain value; the longer ones, whole seconds by
// bounds::window_ms_valid, fit above it.
constexpr std::uint32_t kLongWindowCode = 0xf000'0000U;
static_assert(bounds::window_ms_any_max < kLongWindowCode);
static_assert(bounds::window_ms_max / bounds::window_long_step_ms <=
              0xffff'ffffU - kLongWindowCode);

std::uint32_t window_code(std::uint64_t window_ms) {
  return window_ms <= bounds::window_ms_any_max
             ? static_cast<std::uint32_t>(window_ms)
             : kLongWindowCode +
                   static_cast<std::uint32_t>(window_ms / bounds::window_long_step_ms);
}

std::uint64_t window_ms_of(std::uint32_t code) {
  return code < kLongWindowCode
             ? code
             : std::uint64_t{code - kLongWindowCode} * bounds::window_long_step_ms;
}

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
constexpr std::uint32_t kExtraMask = 0x0fff'ffffU;

// Robin Hood keeps probe sequences short enough at 7/8 load.
constexpr std::size_t kLoadNumerator = 7;
constexpr std::size_t kLoadDenominator = 8;
constexpr std::size_t kInitialCapacity = 64;
constexpr std::size_t kEvictionSample = 8;
constexpr std::size_t kSweepSlotsPerLock = 1024;

std::uint32_t saturating_add(std::uint32_t a, std::uint64_t b) {
  const std::uint64_t sum = static_cast<std::uint64_t>(a) + b;
  return sum > std::numeric_limits<std::uint32_t>::max() ? std::numeric_limits<std::uint32_t>::max()
                                                         : static_cast<std::uint32_t>(sum);
}

std::uint64_t window_id_at(WallTime now, std::uint64_t window_ms) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0)) / window_ms;
}

std::uint32_t clamp32(std::uint64_t value) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(value, std::numeric_limits<std::uint32_t>::max()));
}

// The full id of a window from its low 32 bits, given the id of the window that holds now.
std::uint64_t window_from_low(std::uint32_t window_low, std::uint64_t now_window) {
  const auto delta = static_cast<std::int32_t>(window_low - static_cast<std::uint32_t>(now_window));
  return now_window + static_cast<std::uint64_t>(static_cast<std::int64_t>(delta));
}

std::uint64_t entry_window(const Entry& entry, std::uint64_t now_window) {
  return window_from_low(entry.window_low, now_window);
}

// A key's totals over all origins: its newest window, and the counts of that window and the one
// before it.
struct Totals {
  std::uint64_t newest = 0;
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
};

bool floor_live(const EvictedFloor& floor, WallTime now) {
  if (floor.id == 0) return false;
  const std::uint64_t now_window = window_id_at(now, window_ms_of(floor.window));
  return window_from_low(floor.window_low, now_window) + 2 > now_window;
}

// The floor's counts in the frame of a key whose newest window is `newest`. A floor is not ahead
// of its key (the key moves to the floor's window when the floor is applied, and the floor then
// moves only to the key's newest window), except when a peer's update moved the key 2^31
// windows or more ahead, so that its 32-bit window now reads as long past: a key that far off
// has no counts now, and its floor none either.
Totals floor_at(const EvictedFloor& floor, std::uint64_t newest, std::uint64_t now_window) {
  const std::uint64_t window = window_from_low(floor.window_low, now_window);
  if (window == newest) return {newest, floor.previous, floor.current};
  if (window + 1 == newest) return {newest, floor.current, 0};
  return {newest, 0, 0};
}

}  // namespace

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
  std::size_t insert(Entry entry) {
    std::size_t pos = home(entry.id);
    std::size_t dist = 0;
    std::size_t placed = npos;
    for (;;) {
      Entry& slot = table[pos];
      if (slot.id == 0) {
        slot = entry;
        ++used;
        ++mutations;
        sizes_changed = true;
        return placed == npos ? pos : placed;
      }
      const std::size_t slot_dist = distance(pos, slot.id);
      if (slot_dist < dist) {
        std::swap(slot, entry);
        if (placed == npos) placed = pos;
        dist = slot_dist;
      }
      pos = next(pos);
      ++dist;
    }
  }

  void erase(std::size_t pos) {
    free_extra_chain(table[pos].extra & kExtraMask);
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

  void grow_if_needed() {
    if (table.size() >= capacity_max) return;
    if ((used + 1) * kLoadDenominator <= table.size() * kLoadNumerator) return;
    std::vector<Entry> old = std::move(table);
    table.assign(std::min(capacity_max, std::max(kInitialCapacity, old.size() * 2)), Entry{});
    used = 0;
    for (const Entry& entry : old) {
      if (entry.id != 0) insert(entry);
    }
  }

  void free_extra_chain(std::uint32_t head) {
    while (head != 0) {
      ExtraSlot& slot = extra[head - 1];
      const std::uint32_t following = slot.next;
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

  // The sums of the entry's origin slots, raised to its floor if it has one.
  Totals totals(const Entry& entry, std::uint64_t now_window) const {
    Totals out{entry_window(entry, now_window), 0, 0};
    for_each_slot(entry, [&](std::uint32_t, std::uint32_t p, std::uint32_t c) {
      out.previous += p;
      out.current += c;
    });
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
  CounterView view(std::uint64_t id, const Entry* entry, std::uint64_t window_ms,
                   WallTime now) const {
    const std::uint64_t now_window = window_id_at(now, window_ms);
    const auto now_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(now.unix_ms, 0));
    CounterView out;
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
      if (newest > now_window) {
        // Another node's clock is ahead and its counts already moved to a later window: decide
        // as at that window's start (conservative, and continuous with the end of ours).
        out.elapsed_ms = 0;
        out.lead_ms = newest * window_ms - now_ms;
      }
    }
    return out;
  }

  // Sum of both windows' counts as seen now; expired entries weigh nothing.
  std::uint64_t weight(const Entry& entry, WallTime now) const {
    const CounterView seen = view(entry.id, &entry, window_ms_of(entry.window), now);
    return seen.counts.previous + seen.counts.current;
  }

  // Remembers the totals of `entry`, about to be evicted. The new record goes first in its pair
  // and pushes out, by preference, the key's own earlier record, an empty or expired one, else
  // the older one (counted in floors_lost), but never the floor of `keep`, the key being
  // inserted. Recency, not weight, decides: floors matter only until the key returns or repair
  // restores it, and a flood that evicts a key must be heavier than it, so keeping the heavier
  // records would keep the flood's.
  void remember_floor(const Entry& entry, std::uint64_t keep, WallTime now) {
    if (floors.empty()) {
      floors.assign(2 * floor_pairs, EvictedFloor{});
      sizes_changed = true;
    }
    const Totals seen = totals(entry, window_id_at(now, window_ms_of(entry.window)));
    const EvictedFloor record{entry.id, static_cast<std::uint32_t>(seen.newest), entry.window,
                              clamp32(seen.previous), clamp32(seen.current)};
    const std::size_t at = floor_pair_of(entry.id);
    DRL_ASSERT(at + 1 < floors.size(), "a floor pair inside the floor table");
    EvictedFloor* pair = &floors[at];
    std::size_t out = 1;
    if (pair[0].id == entry.id) {
      out = 0;
    } else if (pair[1].id == entry.id || !floor_live(pair[1], now)) {
      out = 1;
    } else if (!floor_live(pair[0], now) || pair[1].id == keep) {
      out = 0;
    }
    if (pair[out].id != entry.id && floor_live(pair[out], now)) bump(floors_lost);
    if (out == 1) pair[1] = pair[0];
    pair[0] = record;
  }

  // A key just inserted at `pos` in window `window`: if it was evicted while its windows still
  // matter, its floor applies (the key moves to the floor's window if that is later).
  void apply_floor(std::size_t pos, std::uint64_t window, WallTime now) {
    Entry& entry = table[pos];
    EvictedFloor* floor = find_floor(entry.id, entry.window);
    if (floor == nullptr) return;
    const std::uint64_t floor_window =
        window_from_low(floor->window_low, window_id_at(now, window_ms_of(entry.window)));
    if (!floor_live(*floor, now) || floor_window + 1 < window) {
      *floor = EvictedFloor{};
      return;
    }
    if (floor_window > window) entry.window_low = floor->window_low;  // no counts to move yet
    entry.extra |= kFloorBit;
    bump(floors_applied);
  }

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
      const Totals least = floor_at(*floor, entry_window(entry, now_window), now_window);
      std::uint64_t previous = 0;
      std::uint64_t current = 0;
      for_each_slot(entry, [&](std::uint32_t, std::uint32_t p, std::uint32_t c) {
        previous += p;
        current += c;
      });
      if (previous < least.previous || current < least.current) return;
      *floor = EvictedFloor{};
    }
    entry.extra &= ~kFloorBit;
  }

  // Frees one table slot by evicting the lightest of a sample, never one of `protect`.
  // Returns false if every sampled key is protected.
  bool evict_one(std::uint64_t incoming, std::span<const std::uint64_t> protect, WallTime now) {
    // Sample from a position unrelated to where `incoming` will land.
    const std::uint64_t mixed = (incoming ^ (incoming >> 29)) * 0xbf58476d1ce4e5b9ULL;
    __extension__ using u128 = unsigned __int128;
    std::size_t pos = static_cast<std::size_t>((static_cast<u128>(mixed) * table.size()) >> 64);
    std::size_t best = npos;
    bool best_denied = true;
    std::uint64_t best_weight = std::numeric_limits<std::uint64_t>::max();
    std::size_t sampled = 0;
    for (std::size_t probed = 0; probed < table.size() && sampled < kEvictionSample; ++probed) {
      const Entry& entry = table[pos];
      if (entry.id != 0 && std::find(protect.begin(), protect.end(), entry.id) == protect.end()) {
        ++sampled;
        const bool denied = (entry.extra & kDeniedBit) != 0;
        const std::uint64_t w = weight(entry, now);
        if (w == 0) {
          best = pos;
          best_weight = 0;
          best_denied = false;
          break;
        }
        if (best == npos || (best_denied && !denied) ||
            (best_denied == denied && w < best_weight)) {
          best = pos;
          best_weight = w;
          best_denied = denied;
        }
      }
      pos = next(pos);
    }
    if (best == npos) return false;
    if (best_weight == 0) {
      bump(expirations);
    } else {
      bump(evictions);
      if (best_denied) bump(evictions_denied);
      remember_floor(table[best], incoming, now);
    }
    erase(best);
    return true;
  }

  struct SlotRef {
    std::uint32_t* previous = nullptr;
    std::uint32_t* current = nullptr;
  };

  // The slot of `origin` in `entry`, created if missing; empty when the pool is full.
  SlotRef slot_of(Entry& entry, std::uint32_t origin, bool local) {
    if (entry.origin == origin) return {&entry.previous, &entry.current};
    std::uint32_t last = 0;
    for (std::uint32_t at = entry.extra & kExtraMask; at != 0; at = extra[at - 1].next) {
      if (extra[at - 1].origin == origin) return {&extra[at - 1].previous, &extra[at - 1].current};
      last = at;
    }
    const std::uint32_t fresh = allocate_extra(local);
    if (fresh == 0) {
      bump(origin_slots_exhausted);
      return {};
    }
    extra[fresh - 1].origin = origin;
    if (last == 0) {
      entry.extra = (entry.extra & ~kExtraMask) | fresh;
    } else {
      extra[last - 1].next = fresh;
    }
    return {&extra[fresh - 1].previous, &extra[fresh - 1].current};
  }

  // Position of `id`, inserted (evicting if the shard is full) if absent; npos if no room.
  std::size_t find_or_insert(std::uint64_t id, std::uint64_t window_ms, std::uint64_t window,
                             std::uint32_t origin, std::span<const std::uint64_t> protect,
                             WallTime now) {
    std::size_t pos = find(id);
    if (pos != npos) return pos;
    if (used >= key_bound && !evict_one(id, protect, now)) {
      bump(adds_dropped);
      return npos;
    }
    grow_if_needed();
    Entry fresh;
    fresh.id = id;
    fresh.window_low = static_cast<std::uint32_t>(window);
    fresh.window = window_code(window_ms);
    fresh.origin = origin;
    pos = insert(fresh);
    bump(inserts);
    apply_floor(pos, window, now);
    return pos;
  }
};

CounterStore::CounterStore(StoreOptions options) : shard_count_(options.shards), shard_bits_(0) {
  DRL_ASSERT(options.shards > 0 && options.shards <= bounds::store_shards_max &&
                 std::has_single_bit(options.shards),
             "the shard count is a power of two within bounds");
  DRL_ASSERT(
      options.max_keys >= bounds::store_keys_min && options.max_keys <= bounds::store_keys_max,
      "max_keys within bounds");
  shard_bits_ = static_cast<unsigned>(std::countr_zero(options.shards));
  shard_shift_ = 64 - shard_bits_;
  shards_ = std::make_unique<Shard[]>(shard_count_);
  const std::size_t per_shard = std::max<std::size_t>(1, options.max_keys / shard_count_);
  for (std::size_t i = 0; i < shard_count_; ++i) {
    Shard& shard = shards_[i];
    shard.key_bound = per_shard;
    // Room for the bound at the maximum load, plus one so that a probe always ends.
    shard.capacity_max = (per_shard * kLoadDenominator + kLoadNumerator - 1) / kLoadNumerator + 1;
    shard.shard_bits = shard_bits_;
    shard.extra_bound = per_shard * bounds::store_extra_origin_slots_per_key;
    shard.floor_pairs =
        std::max<std::size_t>(1, per_shard / (2 * bounds::store_keys_per_evicted_floor));
    shard.track_changes = options.track_changes;
    shard.publish_sizes();
  }
}

CounterStore::~CounterStore() = default;

CounterStore::Locked CounterStore::lock(std::span<const std::uint64_t> ids) {
  return Locked(*this, ids);
}

CounterStore::Locked::Locked(CounterStore& store, std::span<const std::uint64_t> ids)
    : store_(&store), ids_(ids) {
  DRL_ASSERT(ids.size() <= bounds::limits_per_check_max, "at most limits_per_check_max ids locked");
  if (ids.size() == 1) {
    locked_[0] = static_cast<std::uint16_t>(store.shard_of(ids[0]));
    locked_count_ = 1;
    store.shards_[locked_[0]].mutex.lock();
    return;
  }
  for (std::uint64_t id : ids) {
    const auto shard = static_cast<std::uint16_t>(store.shard_of(id));
    if (std::find(locked_, locked_ + locked_count_, shard) == locked_ + locked_count_) {
      locked_[locked_count_++] = shard;
    }
  }
  // Usually one or two shards: no need for a general sort.
  if (locked_count_ == 2) {
    if (locked_[1] < locked_[0]) std::swap(locked_[0], locked_[1]);
  } else if (locked_count_ > 2) {
    std::sort(locked_, locked_ + locked_count_);
  }
  for (std::size_t i = 0; i < locked_count_; ++i) store.shards_[locked_[i]].mutex.lock();
}

CounterStore::Locked::Locked(Locked&& other) noexcept
    : store_(other.store_), ids_(other.ids_), locked_count_(other.locked_count_) {
  std::copy(other.locked_, other.locked_ + other.locked_count_, locked_);
  other.locked_count_ = 0;
}

CounterStore::Locked::~Locked() {
  for (std::size_t i = locked_count_; i > 0; --i) {
    Shard& shard = store_->shards_[locked_[i - 1]];
    // Only when the shard's size changed: a check that writes no new key must not write the
    // shard's shared counters (another core reading them would pull the line back and forth).
    if (shard.sizes_changed) {
      shard.publish_sizes();
      shard.sizes_changed = false;
    }
    shard.mutex.unlock();
  }
}

CounterStore::Shard& CounterStore::Locked::shard_for(std::uint64_t id) const {
  const std::size_t shard = store_->shard_of(id);
  DRL_ASSERT(std::find(locked_, locked_ + locked_count_, shard) != locked_ + locked_count_,
             "a Locked view touches only the shards it locked");
  return store_->shards_[shard];
}

CounterView CounterStore::Locked::view(std::uint64_t id, std::uint64_t window_ms,
                                       WallTime now) const {
  const Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  found_id_ = pos == Shard::npos ? 0 : id;
  found_pos_ = pos;
  found_mutations_ = shard.mutations;
  return shard.view(id, pos == Shard::npos ? nullptr : &shard.table[pos], window_ms, now);
}

void CounterStore::Locked::add(std::uint64_t id, std::uint64_t window_ms, WallTime now,
                               std::uint32_t origin, std::uint32_t cost) {
  Shard& shard = shard_for(id);
  const std::uint64_t now_window = window_id_at(now, window_ms);
  // Checks look a key up, then add to it: the second lookup is skipped when nothing moved.
  const std::size_t pos = found_id_ == id && found_mutations_ == shard.mutations
                              ? found_pos_
                              : shard.find_or_insert(id, window_ms, now_window, origin, ids_, now);
  if (pos == Shard::npos) return;
  Entry& entry = shard.table[pos];
  const std::uint64_t newest = entry_window(entry, now_window);
  if (newest < now_window) shard.roll(entry, newest, now_window);
  // When another node's clock moved the key to a later window, count there (see view()).
  if (const Shard::SlotRef slot = shard.slot_of(entry, origin, true); slot.current != nullptr) {
    *slot.current = saturating_add(*slot.current, cost);
    if ((entry.extra & kFloorBit) != 0) shard.add_to_floor(entry, now_window, cost);
    if (shard.track_changes && (entry.extra & kChangedBit) == 0) {
      // Listed once until collected; the list is bounded, and a key left off it still reaches
      // peers through anti-entropy.
      if (shard.changed.size() < 2 * shard.key_bound) {
        entry.extra |= kChangedBit;
        shard.changed.push_back(id);
      } else {
        Shard::bump(shard.changes_unlisted);
      }
    }
  }
}

bool CounterStore::Locked::merge(std::uint64_t id, std::uint64_t window_ms, WallTime now,
                                 std::uint32_t origin, std::uint64_t window_id,
                                 std::uint32_t count) {
  // max(x, 0) == x: a zero carries no count, and must not move the key's windows either.
  if (count == 0) return true;
  Shard& shard = shard_for(id);
  const std::uint64_t now_window = window_id_at(now, window_ms);
  if (window_id + 1 < now_window) {
    Shard::bump(shard.merges_stale);
    return false;
  }
  std::size_t pos = shard.find(id);
  if (pos == Shard::npos) {
    pos = shard.find_or_insert(id, window_ms, window_id, origin, ids_, now);
    if (pos == Shard::npos) return false;
  }
  Entry& entry = shard.table[pos];
  const std::uint64_t newest = entry_window(entry, now_window);
  if (window_id > newest) {
    shard.roll(entry, newest, window_id);
  } else if (window_id + 1 < newest) {
    Shard::bump(shard.merges_stale);
    return false;
  }
  const Shard::SlotRef slot = shard.slot_of(entry, origin, false);
  if (slot.current == nullptr) return false;
  // After a roll the update's window is the newest; otherwise it is the newest or the one before.
  const std::uint64_t top = std::max(newest, window_id);
  std::uint32_t& target = window_id == top ? *slot.current : *slot.previous;
  target = std::max(target, count);
  if ((entry.extra & kFloorBit) != 0) shard.drop_floor_if_covered(entry, now_window);
  return true;
}

void CounterStore::Locked::mark_denied(std::uint64_t id) {
  Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  if (pos != Shard::npos) shard.table[pos].extra |= kDeniedBit;
}

std::vector<OriginCounts> CounterStore::Locked::origins(std::uint64_t id, std::uint64_t window_ms,
                                                        WallTime now) const {
  const Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  std::vector<OriginCounts> out;
  if (pos == Shard::npos) return out;
  const Entry& entry = shard.table[pos];
  const std::uint64_t newest = entry_window(entry, window_id_at(now, window_ms));
  shard.for_each_slot(entry,
                      [&](std::uint32_t origin, std::uint32_t previous, std::uint32_t current) {
                        out.push_back(OriginCounts{origin, newest, previous, current});
                      });
  return out;
}

std::size_t CounterStore::expire(WallTime now, std::size_t budget) {
  std::size_t dropped = 0;
  std::size_t examined_shards = 0;
  // Several passes over the shards while budget is left (each visit is bounded).
  while (budget > 0 && examined_shards < 64 * shard_count_) {
    const std::size_t index = sweep_shard_.fetch_add(1, std::memory_order_relaxed) % shard_count_;
    ++examined_shards;
    Shard& shard = shards_[index];
    std::lock_guard<std::mutex> guard(shard.mutex);
    const std::size_t size = shard.table.size();
    if (size == 0) continue;
    std::size_t pos = shard.sweep_cursor % size;
    // A short lock hold per visit: checks on this shard wait at most this many slot visits.
    const std::size_t steps = std::min({budget, size, kSweepSlotsPerLock});
    for (std::size_t step = 0; step < steps; ++step) {
      const Entry& entry = shard.table[pos];
      const std::uint64_t now_window =
          entry.id == 0 ? 0 : window_id_at(now, window_ms_of(entry.window));
      if (entry.id != 0 && entry_window(entry, now_window) + 2 <= now_window) {
        // Backward shift moves the next entry here: look at this position again.
        shard.erase(pos);
        Shard::bump(shard.expirations);
        ++dropped;
        continue;
      }
      pos = shard.next(pos);
    }
    shard.sweep_cursor = pos;
    budget -= steps;
    shard.publish_sizes();
  }
  return dropped;
}

std::size_t CounterStore::collect_changes(WallTime now, std::uint32_t origin,
                                          std::vector<SlotUpdate>& out, std::size_t max_updates) {
  const std::size_t before = out.size();
  for (std::size_t visited = 0; visited < shard_count_ && out.size() - before < max_updates;
       ++visited) {
    Shard& shard = shards_[(collect_shard_ + visited) % shard_count_];
    std::lock_guard<std::mutex> guard(shard.mutex);
    while (!shard.changed.empty() && out.size() - before + 2 <= max_updates) {
      const std::uint64_t id = shard.changed.back();
      shard.changed.pop_back();
      const std::size_t pos = shard.find(id);
      if (pos == Shard::npos) continue;  // evicted or expired since
      Entry& entry = shard.table[pos];
      if ((entry.extra & kChangedBit) == 0) continue;
      const bool previous_changed = (entry.extra & kPreviousChangedBit) != 0;
      entry.extra &= ~(kChangedBit | kPreviousChangedBit);
      const std::uint64_t window_ms = window_ms_of(entry.window);
      const std::uint64_t newest = entry_window(entry, window_id_at(now, window_ms));
      shard.for_each_slot(
          entry, [&](std::uint32_t slot_origin, std::uint32_t previous, std::uint32_t current) {
            if (slot_origin != origin) return;
            if (current != 0) out.push_back(SlotUpdate{id, window_ms, newest, origin, current});
            if (previous_changed && previous != 0) {
              out.push_back(SlotUpdate{id, window_ms, newest - 1, origin, previous});
            }
          });
    }
    shard.publish_sizes();
  }
  collect_shard_ = (collect_shard_ + 1) % shard_count_;
  return out.size() - before;
}

std::size_t CounterStore::collect_all(WallTime now, SweepCursor& cursor,
                                      std::vector<SlotUpdate>& out, std::size_t max_updates) {
  const std::size_t before = out.size();
  cursor.completed = false;
  while (out.size() - before < max_updates) {
    if (cursor.shard >= shard_count_) {
      cursor.shard = 0;
      cursor.position = 0;
      cursor.completed = true;
      break;
    }
    Shard& shard = shards_[cursor.shard];
    std::lock_guard<std::mutex> guard(shard.mutex);
    // Bounded lock hold, as in expire().
    std::size_t visits = 0;
    while (cursor.position < shard.table.size() && visits < kSweepSlotsPerLock &&
           out.size() - before < max_updates) {
      const Entry& entry = shard.table[cursor.position];
      ++visits;
      if (entry.id != 0) {
        const std::uint64_t window_ms = window_ms_of(entry.window);
        const std::uint64_t now_window = window_id_at(now, window_ms);
        const std::uint64_t newest = entry_window(entry, now_window);
        if (newest + 1 >= now_window) {
          // A key whose slots do not all fit is sent whole in the next call.
          std::size_t slots = 0;
          shard.for_each_slot(entry, [&](std::uint32_t, std::uint32_t p, std::uint32_t c) {
            slots += (p != 0) + (c != 0);
          });
          if (out.size() - before + slots > max_updates && out.size() != before)
            return out.size() - before;
          shard.for_each_slot(
              entry, [&](std::uint32_t origin, std::uint32_t previous, std::uint32_t current) {
                if (current != 0) {
                  out.push_back(SlotUpdate{entry.id, window_ms, newest, origin, current});
                }
                if (previous != 0 && newest >= now_window) {
                  out.push_back(SlotUpdate{entry.id, window_ms, newest - 1, origin, previous});
                }
              });
        }
      }
      ++cursor.position;
    }
    if (cursor.position >= shard.table.size()) {
      ++cursor.shard;
      cursor.position = 0;
    }
  }
  return out.size() - before;
}

StoreStats CounterStore::stats() const {
  StoreStats out;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    out.keys += shard.used_snapshot.load(std::memory_order_relaxed);
    out.key_bound += shard.key_bound;
    out.memory_bytes += shard.memory_snapshot.load(std::memory_order_relaxed);
    out.inserts += shard.inserts.load(std::memory_order_relaxed);
    out.evictions += shard.evictions.load(std::memory_order_relaxed);
    out.evictions_denied += shard.evictions_denied.load(std::memory_order_relaxed);
    out.expirations += shard.expirations.load(std::memory_order_relaxed);
    out.origin_slots_exhausted += shard.origin_slots_exhausted.load(std::memory_order_relaxed);
    out.adds_dropped += shard.adds_dropped.load(std::memory_order_relaxed);
    out.merges_stale += shard.merges_stale.load(std::memory_order_relaxed);
    out.changes_unlisted += shard.changes_unlisted.load(std::memory_order_relaxed);
    out.floors_applied += shard.floors_applied.load(std::memory_order_relaxed);
    out.floors_lost += shard.floors_lost.load(std::memory_order_relaxed);
  }
  return out;
}

}  // namespace drl::core
