#include "core/dissemination.hpp"

#include <array>
#include <utility>

namespace drl::core {
namespace {

constexpr std::array<std::pair<Dissemination, std::string_view>, 3> kNames{{
    {Dissemination::automatic, "auto"},
    {Dissemination::mesh, "mesh"},
    {Dissemination::owners, "owners"},
}};

}  // namespace

std::string_view dissemination_name(Dissemination dissemination) {
  for (const auto& [value, name] : kNames) {
    if (value == dissemination) return name;
  }
  return "unknown";
}

std::optional<Dissemination> parse_dissemination(std::string_view name) {
  for (const auto& [value, text] : kNames) {
    if (text == name) return value;
  }
  return std::nullopt;
}

}  // namespace drl::core
