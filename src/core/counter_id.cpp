#include "core/counter_id.hpp"

#include <xxhash.h>

#include <string>

namespace drl::core {

std::uint64_t counter_seed(std::string_view policy, std::string_view scope,
                           std::uint64_t window_ms) {
  // NUL cannot appear in policy names; it separates the parts unambiguously.
  std::string material;
  material.reserve(policy.size() + scope.size() + 24);
  material.append(policy);
  material.push_back('\0');
  material.append(scope);
  material.push_back('\0');
  material.append(std::to_string(window_ms));
  return XXH3_64bits(material.data(), material.size());
}

std::uint64_t counter_id(std::uint64_t seed, std::string_view key) {
  const std::uint64_t id = XXH3_64bits_withSeed(key.data(), key.size(), seed);
  return id == 0 ? 1 : id;
}

}  // namespace drl::core
