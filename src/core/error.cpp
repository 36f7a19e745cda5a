#include <array>

#include "drl/error.hpp"

namespace drl {
namespace {

struct Name {
  Errc code;
  std::string_view name;
};

constexpr std::array<Name, 16> kNames{{
    {Errc::ok, "ok"},
    {Errc::malformed_request, "malformed_request"},
    {Errc::unsupported_version, "unsupported_version"},
    {Errc::unknown_op, "unknown_op"},
    {Errc::unknown_policy, "unknown_policy"},
    {Errc::empty_key, "empty_key"},
    {Errc::key_too_long, "key_too_long"},
    {Errc::cost_above_limit, "cost_above_limit"},
    {Errc::too_large, "too_large"},
    {Errc::too_many_items, "too_many_items"},
    {Errc::reload_failed, "reload_failed"},
    {Errc::unavailable, "unavailable"},
    {Errc::internal, "internal"},
    {Errc::io_error, "io_error"},
    {Errc::protocol_error, "protocol_error"},
    {Errc::invalid_argument, "invalid_argument"},
}};

}  // namespace

std::string_view errc_name(Errc code) {
  for (const Name& entry : kNames) {
    if (entry.code == code) return entry.name;
  }
  return "internal";
}

Errc errc_from_name(std::string_view name) {
  for (const Name& entry : kNames) {
    if (entry.name == name) return entry.code;
  }
  return Errc::internal;
}

}  // namespace drl
