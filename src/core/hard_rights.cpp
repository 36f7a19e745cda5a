#include "core/hard_rights.hpp"

#include <xxhash.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/assert.hpp"

namespace drl::core {

RightsSplit rights_split_of(std::string_view self, std::span<const std::string> peers,
                            std::size_t unresolved_peers, std::int64_t rights_from_unix_ms) {
  std::vector<std::string_view> universe(peers.begin(), peers.end());
  if (!self.empty()) universe.push_back(self);
  std::sort(universe.begin(), universe.end());
  universe.erase(std::unique(universe.begin(), universe.end()), universe.end());
  RightsSplit split;
  split.members =
      static_cast<std::uint32_t>(universe.size() + unresolved_peers + (self.empty() ? 1 : 0));
  split.rank = RightsSplit::unranked;
  if (!self.empty() && unresolved_peers == 0) {
    split.rank = static_cast<std::uint32_t>(
        std::lower_bound(universe.begin(), universe.end(), self) - universe.begin());
  }
  split.rights_from_unix_ms = rights_from_unix_ms;
  // NUL cannot appear in an address: it separates them unambiguously.
  std::string material = std::to_string(unresolved_peers) + (self.empty() ? "+self" : "");
  for (std::string_view address : universe) {
    material.push_back('\0');
    material.append(address);
  }
  split.members_digest = std::max<std::uint64_t>(1, XXH3_64bits(material.data(), material.size()));
  return split;
}

std::uint64_t first_window_with_rights(std::int64_t rights_from_unix_ms, std::uint64_t window_ms) {
  const auto from = static_cast<std::uint64_t>(std::max<std::int64_t>(0, rights_from_unix_ms));
  return (from + window_ms - 1) / window_ms;  // the first that begins at or after `from`
}

std::uint64_t rights_in_window(const RightsSplit& split, std::uint64_t limit,
                               std::uint64_t window_id, std::uint64_t window_ms) {
  DRL_ASSERT(
      split.members >= 1 && (split.rank < split.members || split.rank == RightsSplit::unranked),
      "a rights split is well formed");
  if (window_id < first_window_with_rights(split, window_ms)) return 0;
  return share_of(split, limit);
}

}  // namespace drl::core
