#include "core/saved_counts.hpp"

#include <array>
#include <limits>
#include <optional>

#include "core/bounds.hpp"
#include "core/counter_window.hpp"

namespace drl::core {
namespace {

// Counts collected per call of collect_all: its locks are bounded by table slots anyway; this
// only keeps the scratch vector small.
constexpr std::size_t kCountsPerSweepStep = 4096;

}  // namespace

std::size_t saved_counts_max(const CounterStore& store) {
  const std::size_t slots_per_key = 1 + bounds::store_extra_origin_slots_per_key;
  return static_cast<std::size_t>(store.stats().key_bound) * slots_per_key * 2;
}

SavedCounts snapshot_counts(CounterStore& store, const OriginTable& origins, WallTime now) {
  SavedCounts out;
  snapshot_counts(store, origins, now, out);
  return out;
}

void snapshot_counts(CounterStore& store, const OriginTable& origins, WallTime now,
                     SavedCounts& out) {
  out.origins.clear();
  out.counts.clear();
  out.saver = origins.local();
  out.saved_unix_ms = now.unix_ms;
  // Store origin index -> index + 1 in out.origins; 0: not looked up yet. Origins are few and
  // their indices small (below the table's capacity), so a vector beats hashing per count.
  constexpr std::uint32_t kRetired = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> saved_index(origins.capacity(), 0);
  std::vector<SlotUpdate> step;
  SweepCursor cursor;
  do {
    step.clear();
    store.collect_all(now, cursor, step, kCountsPerSweepStep);
    for (SlotUpdate update : step) {
      if (update.origin >= saved_index.size()) continue;  // not an index of this table
      std::uint32_t& index = saved_index[update.origin];
      if (index == 0) {
        std::optional<Origin> origin = origins.origin_at(update.origin);
        // A count whose origin was retired meanwhile is left out.
        if (!origin) {
          index = kRetired;
        } else {
          out.origins.push_back(std::move(*origin));
          index = static_cast<std::uint32_t>(out.origins.size());
        }
      }
      if (index == kRetired) continue;
      update.origin = index - 1;
      out.counts.push_back(update);
    }
  } while (!cursor.completed);
}

RestoreOutcome restore_counts(CounterStore& store, OriginTable& origins, const SavedCounts& saved,
                              MonoTime now, WallTime wall, std::int64_t retire_after_ms) {
  RestoreOutcome outcome;
  const std::uint64_t evictions_before = store.stats().evictions;
  // Saved origin index -> store origin index (nullopt: the table is full, or it is us now).
  std::vector<std::optional<std::uint32_t>> store_index(saved.origins.size());
  for (std::size_t i = 0; i < saved.origins.size(); ++i) {
    if (saved.origins[i] == origins.local()) continue;
    store_index[i] = origins.index_of(saved.origins[i], now, retire_after_ms);
  }
  std::vector<bool> origin_used(saved.origins.size(), false);
  for (const SlotUpdate& count : saved.counts) {
    if (count.origin >= store_index.size() || !store_index[count.origin] ||
        !bounds::window_ms_valid(count.window_ms) || count.count == 0) {
      ++outcome.dropped;
      continue;
    }
    // Two windows are kept: the one holding `wall` and the one before it.
    if (count.window_id + 1 < window_id_at(wall, count.window_ms)) {
      ++outcome.ended;
      continue;
    }
    const std::array<std::uint64_t, 1> ids{count.counter_id};
    if (store.lock(ids).merge(count.counter_id, count.window_ms, wall, *store_index[count.origin],
                              count.window_id, count.count)) {
      ++outcome.restored;
      if (!origin_used[count.origin]) {
        origin_used[count.origin] = true;
        ++outcome.origins;
      }
    } else {
      ++outcome.dropped;
    }
  }
  outcome.keys_evicted = store.stats().evictions - evictions_before;
  return outcome;
}

}  // namespace drl::core
