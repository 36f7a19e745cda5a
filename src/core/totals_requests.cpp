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
      wants_dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    asked_.emplace(counter_id, Asked{now.unix_ms, window_id});
  }
  wants_.push_back(TotalsWant{counter_id, window_ms});
  return true;
}

std::vector<TotalsWant> TotalsRequests::take(std::size_t max, WallTime now) {
  const auto wait_ms = static_cast<std::int64_t>(wait_ms_.load(std::memory_order_acquire));
  std::lock_guard lock(mutex_);
  const std::size_t taken = std::min(max, wants_.size());
  std::vector<TotalsWant> out(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  wants_.erase(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  std::erase_if(
      asked_, [&](const auto& entry) { return now.unix_ms - entry.second.at_unix_ms >= wait_ms; });
  return out;
}

}  // namespace drl::core
