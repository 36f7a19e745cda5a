#include "core/rights_ledger.hpp"

#include <algorithm>
#include <limits>

#include "core/assert.hpp"
#include "core/bounds.hpp"

namespace drl::core {

std::int64_t RightsLedger::net_locked(const RightsKey& key) const {
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(key);
  if (found == entries_.end()) return 0;
  return static_cast<std::int64_t>(found->second.received_sum) -
         static_cast<std::int64_t>(found->second.given_sum);
}

void RightsLedger::set_split(const RightsSplit& split) {
  split_ = split;
  rights_from_unix_ms_.store(
      awaiting_members_ ? std::numeric_limits<std::int64_t>::max() : split.rights_from_unix_ms,
      std::memory_order_release);
}

void RightsLedger::await_members(std::int64_t clock_skew_max_ms) {
  awaiting_members_ = true;
  clock_skew_max_ms_ = clock_skew_max_ms;
  rights_from_unix_ms_.store(std::numeric_limits<std::int64_t>::max(), std::memory_order_release);
}

void RightsLedger::members_agreed(WallTime wall) {
  if (!awaiting_members_) return;
  awaiting_members_ = false;
  rights_from_unix_ms_.store(
      std::max(split_.rights_from_unix_ms, wall.unix_ms + clock_skew_max_ms_),
      std::memory_order_release);
}

RightsLedger::Entry* RightsLedger::entry_for(const RightsKey& key) {
  const auto found = entries_.find(key);
  if (found != entries_.end()) return &found->second;
  if (entries_.size() >= bounds::rights_entries_max) {
    ++stats_.entries_refused;
    return nullptr;
  }
  Entry* entry = &entries_[key];
  size_.store(entries_.size(), std::memory_order_release);
  return entry;
}

bool RightsLedger::want(const RightsKey& key, std::uint64_t limit, std::uint64_t amount) {
  std::lock_guard lock(mutex_);
  Entry* entry = entry_for(key);
  if (entry == nullptr || entry->exhausted) return false;
  if (entry->wanted || entry->in_flight) return true;
  if (wants_.size() >= bounds::rights_wants_max) {
    ++stats_.wants_dropped;
    return false;
  }
  entry->wanted = true;
  wants_.push_back(RightsWant{key, limit, amount, entry->asks});
  return true;
}

bool RightsLedger::has_wants() const {
  std::lock_guard lock(mutex_);
  return !wants_.empty();
}

std::vector<RightsWant> RightsLedger::take_wants(std::size_t max) {
  std::lock_guard lock(mutex_);
  const std::size_t taken = std::min(max, wants_.size());
  std::vector<RightsWant> out(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  wants_.erase(wants_.begin(), wants_.begin() + static_cast<std::ptrdiff_t>(taken));
  for (const RightsWant& want : out) {
    const auto found = entries_.find(want.key);
    if (found == entries_.end()) continue;  // expired meanwhile
    found->second.wanted = false;
    found->second.in_flight = true;
    ++found->second.asks;
  }
  return out;
}

std::uint64_t RightsLedger::answered(const RightsKey& key, std::uint32_t donor, std::uint64_t total,
                                     std::uint32_t members) {
  std::lock_guard lock(mutex_);
  Entry* entry = entry_for(key);
  if (entry == nullptr) return 0;
  entry->in_flight = false;
  answers_merged_.fetch_add(1, std::memory_order_seq_cst);
  auto grant = std::find_if(entry->received.begin(), entry->received.end(),
                            [donor](const Grant& g) { return g.origin == donor; });
  if (grant == entry->received.end()) {
    entry->received.push_back(Grant{donor, 0});
    grant = entry->received.end() - 1;
  }
  if (total <= grant->total) {
    // Nothing to spare there (a duplicate says it again, counted once): once every other member
    // said so since the last grant, this window is done.
    grant->refused = true;
    const auto refusing = std::count_if(entry->received.begin(), entry->received.end(),
                                        [](const Grant& g) { return g.refused; });
    if (static_cast<std::uint64_t>(refusing) + 1 >= members) entry->exhausted = true;
    return 0;
  }
  // Rights moved: a member that had nothing may have some again (it was granted some itself).
  for (Grant& g : entry->received) g.refused = false;
  const std::uint64_t added = total - grant->total;
  grant->total = total;
  entry->received_sum += added;
  stats_.received += added;
  return added;
}

std::vector<std::uint32_t> RightsLedger::refused_by(const RightsKey& key) const {
  std::lock_guard lock(mutex_);
  std::vector<std::uint32_t> out;
  const auto found = entries_.find(key);
  if (found == entries_.end()) return out;
  for (const Grant& grant : found->second.received) {
    if (grant.refused) out.push_back(grant.origin);
  }
  return out;
}

std::optional<std::uint64_t> RightsLedger::give(const RightsKey& key, std::uint32_t recipient,
                                                std::uint64_t amount) {
  std::lock_guard lock(mutex_);
  Entry* entry = entry_for(key);
  if (entry == nullptr) return std::nullopt;
  auto grant = std::find_if(entry->given.begin(), entry->given.end(),
                            [recipient](const Grant& g) { return g.origin == recipient; });
  if (grant == entry->given.end()) {
    entry->given.push_back(Grant{recipient, 0});
    grant = entry->given.end() - 1;
  }
  grant->total += amount;
  entry->given_sum += amount;
  stats_.granted += amount;
  return grant->total;
}

std::uint64_t RightsLedger::given_to(const RightsKey& key, std::uint32_t recipient) const {
  std::lock_guard lock(mutex_);
  const auto found = entries_.find(key);
  if (found == entries_.end()) return 0;
  for (const Grant& grant : found->second.given) {
    if (grant.origin == recipient) return grant.total;
  }
  return 0;
}

void RightsLedger::expire(WallTime now) {
  if (size_.load(std::memory_order_acquire) == 0) return;
  const auto now_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(0, now.unix_ms));
  std::lock_guard lock(mutex_);
  // A window is done with once the window after it has ended too: no check counts in it, nor
  // (clocks within clock_skew_max, shorter than a window or not) in the one before.
  std::erase_if(entries_, [now_ms](const auto& item) {
    const RightsKey& key = item.first;
    return (key.window_id + 2) * key.window_ms < now_ms && !item.second.wanted;
  });
  for (auto& [key, entry] : entries_) entry.in_flight = false;
  size_.store(entries_.size(), std::memory_order_release);
}

std::size_t RightsLedger::size() const {
  return size_.load(std::memory_order_acquire);
}

RightsStats RightsLedger::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace drl::core
