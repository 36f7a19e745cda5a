// How counts travel between nodes ([cluster] dissemination, docs/replication.md): the one enum,
// its names in the config and the status, and their parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace drl::core {

enum class Dissemination : std::uint8_t {
  automatic,  // "auto": the mesh below bounds::owners_from_members live members, owners from there
  mesh,       // every node sends its changed counts to every live peer
  owners,     // every node sends them to each key's owners, which tell the others' total back
};

// "auto", "mesh" or "owners", as the config writes them.
std::string_view dissemination_name(Dissemination dissemination);
// The mode a config names, or nothing for another word.
std::optional<Dissemination> parse_dissemination(std::string_view name);

}  // namespace drl::core
