#include "core/saved_counts.hpp"

#include <array>
#include <optional>
#include <unordered_map>

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
  out.saver = origins.local();
  out.saved_unix_ms = now.unix_ms;
  // Store origin index -> index in out.origins (nullopt: retired since the count was made).
  std::unordered_map<std::uint32_t, std::optional<std::uint32_t>> saved_index;
  std::vector<SlotUpdate> step;
  SweepCursor cursor;
  do {
    step.clear();
    store.collect_all(now, cursor, step, kCountsPerSweepStep);
    for (SlotUpdate update : step) {
      auto [at, inserted] = saved_index.try_emplace(update.origin);
      if (inserted) {
        if (std::optional<Origin> origin = origins.origin_at(update.origin)) {
          at->second = static_cast<std::uint32_t>(out.origins.size());
          out.origins.push_back(std::move(*origin));
        }
      }
      if (!at->second) continue;
      update.origin = *at->second;
      out.counts.push_back(update);
    }
  } while (!cursor.completed);
  return out;
}

RestoreOutcome restore_counts(CounterStore& store, OriginTable& origins, const SavedCounts& saved,
                              MonoTime now, WallTime wall, std::int64_t retire_after_ms) {
  RestoreOutcome outcome;
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
  return outcome;
}

}  // namespace drl::core
