#include "daemon/policy_ids.hpp"

namespace drl::daemon {

std::uint32_t PolicyIds::id_of(std::string_view name) {
  std::lock_guard<std::mutex> guard(mutex_);
  const std::string key(name);
  if (const auto it = ids_.find(key); it != ids_.end()) return it->second;
  if (names_.size() >= other) return other;
  const auto id = static_cast<std::uint32_t>(names_.size());
  ids_.emplace(key, id);
  names_.push_back(key);
  return id;
}

std::vector<std::string> PolicyIds::names() const {
  std::lock_guard<std::mutex> guard(mutex_);
  std::vector<std::string> out = names_;
  if (out.size() >= other) out.push_back("other");
  return out;
}

}  // namespace drl::daemon
