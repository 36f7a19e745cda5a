// Small stable numbers for policy names, so that per-policy counters survive reloads (a policy
// keeps its number) and stay bounded (policy names beyond the bound share the last number,
// reported as "other"). Thread-safe; not on the check path (workers cache the numbers of the
// policies in force).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bounds.hpp"

namespace drl::daemon {

class PolicyIds {
 public:
  static constexpr std::size_t capacity = bounds::policies_max + 1;
  static constexpr std::uint32_t other = capacity - 1;

  std::uint32_t id_of(std::string_view name);
  // The name of every id given so far (index = id); "other" last if used.
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> names_;
};

}  // namespace drl::daemon
