#include "core/origin_table.hpp"

namespace drl::core {

OriginTable::OriginTable(Origin local, std::size_t max_origins)
    : local_(std::move(local)), max_origins_(std::max<std::size_t>(max_origins, 2)) {
  slots_.push_back(Slot{local_, MonoTime{}, true});
  by_origin_.emplace(local_, local_index);
}

std::optional<std::uint32_t> OriginTable::find(const Origin& origin) const {
  std::lock_guard<std::mutex> guard(mutex_);
  const auto it = by_origin_.find(origin);
  if (it == by_origin_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint32_t> OriginTable::index_of(const Origin& origin, MonoTime now,
                                                   std::int64_t retire_after_ms) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (const auto it = by_origin_.find(origin); it != by_origin_.end()) {
    slots_[it->second].last_seen = now;
    return it->second;
  }
  if (slots_.size() < max_origins_) {
    slots_.push_back(Slot{origin, now, true});
    const auto index = static_cast<std::uint32_t>(slots_.size() - 1);
    by_origin_.emplace(origin, index);
    return index;
  }
  // Reuse the longest-unseen retired index (never the local one).
  std::uint32_t oldest = 0;
  for (std::uint32_t i = 1; i < slots_.size(); ++i) {
    if (oldest == 0 || slots_[i].last_seen < slots_[oldest].last_seen) oldest = i;
  }
  if (oldest == 0 || now.ns - slots_[oldest].last_seen.ns < retire_after_ms * 1'000'000) {
    ++full_drops_;
    return std::nullopt;
  }
  by_origin_.erase(slots_[oldest].origin);
  slots_[oldest] = Slot{origin, now, true};
  by_origin_.emplace(origin, oldest);
  return oldest;
}

std::optional<Origin> OriginTable::origin_at(std::uint32_t index) const {
  std::lock_guard<std::mutex> guard(mutex_);
  if (index >= slots_.size() || !slots_[index].used) return std::nullopt;
  return slots_[index].origin;
}

std::size_t OriginTable::size() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return slots_.size();
}

std::uint64_t OriginTable::full_drops() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return full_drops_;
}

}  // namespace drl::core
