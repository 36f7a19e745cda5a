#include "core/totals_requests.hpp"

#include <algorithm>

#include "core/bounds.hpp"
#include "core/counter_window.hpp"

namespace drl::core {

bool TotalsRequests::want(std::uint64_t counter_id, std::uint64_t window_ms, WallTime now) {
  const std::uint64_t window_id = window_id_at(now, window_ms);
  const auto wait_ms = static_cast<std::int64_t>(wait_ms_.load(std::memory_order_acquire));
  std::lock_guard lock(mutex_);
  const auto found = asked_.find(counter_id);
  if (found != asked_.end()) {
    Asked& asked = found->second;
    if (asked.window_id == window_id && now.unix_ms - asked.at_unix_ms < wait_ms) return true;
    asked = Asked{now.unix_ms, window_id};
  } else {
    if (asked_.size() >= bounds::totals_wants_max) {
      wants_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    asked_.emplace(counter_id, Asked{now.unix_ms, window_id});
  }
  made_.push_back(Made{now.unix_ms, counter_id});
  wants_.push_back(TotalsWant{counter_id, window_ms});
  return true;
}

std::vector<TotalsWant> TotalsRequests::take(std::size_t max, WallTime now) {
  const auto wait_ms = static_cast<std::int64_t>(wait_ms_.load(std::memory_order_acquire));
  std::lock_guard lock(mutex_);
  // Called every gossip round and whenever a check is held: without requests, nothing to do.
  if (wants_.empty() && made_.empty()) return {};
  const std::size_t taken = std::min(max, wants_.size());
  std::vector<TotalsWant> out(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  wants_.erase(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  // Oldest first. A request made more than wait_ms after `now` (the wall clock stepped back) is
  // over too: kept, it would hold up every one made after it. (One made a moment after `now`,
  // by a check while this round ran, is not.)
  while (!made_.empty()) {
    const Made& oldest = made_.front();
    const std::int64_t age_ms = now.unix_ms - oldest.at_unix_ms;
    if (age_ms < wait_ms && -age_ms <= wait_ms) break;
    const auto found = asked_.find(oldest.counter_id);
    // Asked again since: that later request has a record of its own further on.
    if (found != asked_.end() && found->second.at_unix_ms == oldest.at_unix_ms) asked_.erase(found);
    made_.pop_front();
  }
  return out;
}

}  // namespace drl::core
