// The counter store's public face: sharding and locking (CounterStore, Locked), the operations
// of a check (view, add, merge), expiry sweeps and the collection of counts for peers. A shard's
// table, origin slots and floors are in counter_store_shard.{hpp,cpp}; window arithmetic in
// counter_window.hpp.
#include "core/counter_store.hpp"

#include <algorithm>
#include <bit>
#include <memory>
#include <mutex>
#include <utility>

#include "core/assert.hpp"
#include "core/counter_store_shard.hpp"
#include "core/counter_window.hpp"

namespace drl::core {

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

CounterView CounterStore::Locked::view_with_own(std::uint64_t id, std::uint64_t window_ms,
                                                WallTime now, std::uint32_t origin,
                                                std::uint64_t& own) const {
  const Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  found_id_ = pos == Shard::npos ? 0 : id;
  found_pos_ = pos;
  found_mutations_ = shard.mutations;
  const Entry* entry = pos == Shard::npos ? nullptr : &shard.table[pos];
  bool newest_counted = false;
  const CounterView seen = shard.view(id, entry, window_ms, now, &newest_counted);
  if (entry == nullptr || (entry->extra & kFloorBit) != 0) {
    own = seen.counts.current;  // 0 unless a floor holds it
  } else {
    own = newest_counted ? shard.current_of(*entry, origin) : 0;
  }
  return seen;
}

std::optional<std::uint64_t> CounterStore::Locked::own_in_window(std::uint64_t id,
                                                                 std::uint64_t window_ms,
                                                                 std::uint64_t window_id,
                                                                 WallTime now,
                                                                 std::uint32_t origin) const {
  const Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  if (pos == Shard::npos) {
    // Never counted here (a hard key that admitted is evicted last, and one that comes back
    // has a floor): nothing of this origin's.
    if (shard.find_floor(id, window_code(window_ms)) != nullptr) return std::nullopt;
    return 0;
  }
  const Entry& entry = shard.table[pos];
  if ((entry.extra & kFloorBit) != 0) return std::nullopt;
  const std::uint64_t newest = entry_window(entry, window_id_at(now, window_ms));
  if (window_id > newest) return 0;
  if (window_id + 1 < newest) return std::nullopt;
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
  shard.for_each_slot(entry, [&](std::uint32_t slot_origin, std::uint32_t p, std::uint32_t c) {
    if (slot_origin == origin) {
      previous = p;
      current = c;
    }
  });
  return window_id == newest ? current : previous;
}

void CounterStore::Locked::add(std::uint64_t id, std::uint64_t window_ms, WallTime now,
                               std::uint32_t origin, std::uint32_t cost, bool evict_last) {
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
  if (evict_last) entry.extra |= kDeniedBit;
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
  // max(x, 0) == x: a zero carries no count, and must not move the key's windows either. But
  // an owners' total of zero is news: the owners answered (totals_requests.hpp).
  if (count == 0 && origin != owners_total_origin) return true;
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
  if (origin == owners_total_origin) {
    entry.extra |= kOwnersTotalBit;
    if (window_id == top) entry.extra |= kOwnersAnsweredBit;
  }
  std::uint32_t& target = window_id == top ? *slot.current : *slot.previous;
  target = std::max(target, count);
  if ((entry.extra & kFloorBit) != 0) shard.drop_floor_if_covered(entry, now_window);
  return true;
}

bool CounterStore::Locked::heard_from_owners(std::uint64_t id, std::uint64_t window_ms,
                                             WallTime now) const {
  const Shard& shard = shard_for(id);
  const std::size_t pos = shard.find(id);
  if (pos == Shard::npos) return false;
  const Entry& entry = shard.table[pos];
  const std::uint64_t now_window = window_id_at(now, window_ms);
  const std::uint64_t newest = entry_window(entry, now_window);
  if (newest + 1 < now_window) return false;
  if (newest >= now_window && (entry.extra & kOwnersAnsweredBit) != 0) return true;
  // A count of an origin's in the windows a check reads: this node's own (so the owners send it
  // their totals) or another's (this node owns the key, or heard it in the mesh).
  bool counted = false;
  shard.for_each_slot(
      entry, [&](std::uint32_t origin, std::uint32_t previous, std::uint32_t current) {
        if (origin == owners_total_origin) return;
        counted = counted || current != 0 || (newest >= now_window && previous != 0);
      });
  return counted;
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
          shard.for_each_slot(entry, [&](std::uint32_t origin, std::uint32_t p, std::uint32_t c) {
            if (origin != owners_total_origin) slots += (p != 0) + (c != 0);
          });
          if (out.size() - before + slots > max_updates && out.size() != before)
            return out.size() - before;
          shard.for_each_slot(
              entry, [&](std::uint32_t origin, std::uint32_t previous, std::uint32_t current) {
                if (origin == owners_total_origin) return;  // no origin's: not for peers
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

bool CounterStore::empty() const {
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard<std::mutex> guard(shards_[i].mutex);
    if (shards_[i].used != 0) return false;
  }
  return true;
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
