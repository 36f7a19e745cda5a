#include "sim/sampled_slots.hpp"

#include <algorithm>
#include <optional>

namespace drl::sim {

Slots slots_of(SimNode& node, std::int64_t now_ns, const std::vector<SampledCounter>& counters,
               std::map<std::uint64_t, std::uint64_t>* newest) {
  Slots out;
  for (const SampledCounter& counter : counters) {
    const std::uint64_t lock_ids[] = {counter.id};
    auto locked = node.store().lock(lock_ids);
    for (const core::OriginCounts& slot :
         locked.origins(counter.id, counter.window_ms, node.wall(now_ns))) {
      if (newest != nullptr) (*newest)[counter.id] = slot.window_id;
      const std::optional<core::Origin> origin = node.origins().origin_at(slot.origin);
      if (!origin) continue;
      if (slot.current != 0)
        out[{counter.id, origin->node_id, origin->incarnation, slot.window_id}] = slot.current;
      if (slot.previous != 0) {
        out[{counter.id, origin->node_id, origin->incarnation, slot.window_id - 1}] = slot.previous;
      }
    }
  }
  return out;
}

bool dominates(SimNode& node, std::int64_t now_ns, const Slots& truth,
               const std::vector<SampledCounter>& counters) {
  std::map<std::uint64_t, std::uint64_t> newest;
  const Slots mine = slots_of(node, now_ns, counters, &newest);
  for (const auto& [slot, count] : truth) {
    const auto& [id, node_id, incarnation, window] = slot;
    std::int64_t window_ms = 0;
    for (const SampledCounter& counter : counters) {
      if (counter.id == id) window_ms = static_cast<std::int64_t>(counter.window_ms);
    }
    std::int64_t kept_from = node.wall(now_ns).unix_ms / window_ms - 1;
    if (const auto it = newest.find(id); it != newest.end())
      kept_from = std::max(kept_from, static_cast<std::int64_t>(it->second) - 1);
    if (static_cast<std::int64_t>(window) < kept_from) continue;  // no longer kept
    const auto it = mine.find(slot);
    if (it == mine.end() || it->second < count) return false;
  }
  return true;
}

bool holds_totals(SimNode& node, std::int64_t now_ns, const Slots& truth,
                  const std::vector<SampledCounter>& counters) {
  // What the origins counted in all, per counter and window.
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> totals;
  for (const auto& [slot, count] : truth) {
    const auto& [id, node_id, incarnation, window] = slot;
    totals[{id, window}] += count;
  }
  for (const SampledCounter& counter : counters) {
    const std::uint64_t lock_ids[] = {counter.id};
    auto locked = node.store().lock(lock_ids);
    const core::CounterView seen = locked.view(counter.id, counter.window_ms, node.wall(now_ns));
    // The owners tell a node the others' total while it has counted the key in the current or
    // the previous window; a node that has not may hold less, by design (docs/replication.md,
    // "Key owners"): the first check it takes there is decided on its own count.
    bool counting = false;
    for (const core::OriginCounts& slot :
         locked.origins(counter.id, counter.window_ms, node.wall(now_ns))) {
      if (slot.origin != core::local_origin_index) continue;
      counting = (slot.current != 0 && slot.window_id + 1 >= seen.window_id) ||
                 (slot.previous != 0 && slot.window_id >= seen.window_id);
    }
    if (!counting) continue;
    const auto need = [&](std::uint64_t window) {
      const auto it = totals.find({counter.id, window});
      return it == totals.end() ? 0 : it->second;
    };
    if (seen.counts.current < need(seen.window_id)) return false;
    if (seen.window_id > 0 && seen.counts.previous < need(seen.window_id - 1)) return false;
  }
  return true;
}

}  // namespace drl::sim
