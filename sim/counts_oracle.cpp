#include "sim/counts_oracle.hpp"

#include "core/origin_table.hpp"
#include "sim/run_time.hpp"

namespace drl::sim {

void CountsOracle::on_admitted(SimNode& node, const SampledCounter& counter, const std::string& key,
                               std::int64_t now_ns) {
  const OriginKey origin{counter.id, node.id(), node.incarnation()};
  const std::uint64_t admitted = ++admitted_by_origin_[origin];
  std::uint64_t& counted = counted_by_origin_[origin];
  const std::uint64_t lock_ids[] = {counter.id};
  auto locked = node.store().lock(lock_ids);
  for (const core::OriginCounts& slot :
       locked.origins(counter.id, counter.window_ms, node.wall(now_ns))) {
    if (slot.origin != core::OriginTable::local_index) continue;
    const auto note = [&](std::uint64_t window, std::uint32_t count) {
      std::uint32_t& best = own_counts_[{counter.id, node.id(), node.incarnation(), window}];
      if (count <= best) return;
      counted += count - best;
      best = count;
    };
    note(slot.window_id, slot.current);
    note(slot.window_id - 1, slot.previous);
  }
  if (counted > admitted) {
    violation(node.id() + " counted " + std::to_string(counted) + " for key " + key + " at " +
              format_run_seconds(now_ns) + " but admitted it " + std::to_string(admitted) +
              " times");
  }
}

void CountsOracle::audit(const std::string& holder, const Slots& held, std::int64_t now_ns) {
  for (const auto& [slot, count] : held) {
    const auto it = own_counts_.find(slot);
    const std::uint32_t counted = it == own_counts_.end() ? 0 : it->second;
    if (count <= counted) continue;
    const auto& [id, node_id, incarnation, window] = slot;
    violation(holder + " held " + std::to_string(count) + " for " + node_id +
              "'s count of counter " + std::to_string(id) + " in window " + std::to_string(window) +
              " at " + format_run_seconds(now_ns) + ", where " + node_id + " counted " +
              std::to_string(counted));
  }
}

void CountsOracle::violation(std::string what) {
  ++violations_;
  if (first_violation_.empty()) first_violation_ = std::move(what);
}

}  // namespace drl::sim
