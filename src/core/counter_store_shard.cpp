// A shard making room for a new key: insertion and growth of the hash table, eviction of the
// lightest of a sample when the shard is full, and the floors that evicted keys leave behind.
// Not on the path of a check on a tracked key.
#include "core/counter_store_shard.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>

#include "core/assert.hpp"

namespace drl::core {
namespace {

// A floor matters while its newest window is the one holding now or the one before.
bool floor_live(const EvictedFloor& floor, WallTime now) {
  if (floor.id == 0) return false;
  const std::uint64_t now_window = window_id_at(now, window_ms_of(floor.window));
  return window_from_low(floor.window_low, now_window) + 2 > now_window;
}

}  // namespace

inline std::size_t CounterStore::Shard::insert(Entry entry) {
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

inline void CounterStore::Shard::grow_if_needed() {
  if (table.size() >= capacity_max) return;
  if ((used + 1) * kLoadDenominator <= table.size() * kLoadNumerator) return;
  std::vector<Entry> old = std::move(table);
  table.assign(std::min(capacity_max, std::max(kInitialCapacity, old.size() * 2)), Entry{});
  used = 0;
  for (const Entry& entry : old) {
    if (entry.id != 0) insert(entry);
  }
}

inline std::uint64_t CounterStore::Shard::weight(const Entry& entry, WallTime now) const {
  const CounterView seen = view(entry.id, &entry, window_ms_of(entry.window), now);
  return seen.counts.previous + seen.counts.current;
}

inline void CounterStore::Shard::remember_floor(const Entry& entry, std::uint64_t keep,
                                                WallTime now) {
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

inline void CounterStore::Shard::apply_floor(std::size_t pos, std::uint64_t window, WallTime now) {
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

// flatten: the helpers above inline into the two entry points, as they did when the store was
// one file. With the shard's types in a header instead of an anonymous namespace, GCC would call
// totals() and remember_floor() instead: +2% instructions on a flood of new keys.
[[gnu::flatten]] bool CounterStore::Shard::evict_one(std::uint64_t incoming,
                                                     std::span<const std::uint64_t> protect,
                                                     WallTime now) {
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
      if (best == npos || (best_denied && !denied) || (best_denied == denied && w < best_weight)) {
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

[[gnu::flatten]] std::size_t CounterStore::Shard::find_or_insert(
    std::uint64_t id, std::uint64_t window_ms, std::uint64_t window, std::uint32_t origin,
    std::span<const std::uint64_t> protect, WallTime now) {
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

}  // namespace drl::core
