// Error codes shared by the client protocol, the C++ client and the embedded limiter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace drl {

// The names (errc_name) are the wire representation: append new codes, never rename.
enum class Errc : std::uint8_t {
  ok = 0,
  malformed_request,    // not a msgpack map, wrong field type, missing field
  unsupported_version,  // "v" newer than this server speaks
  unknown_op,           // "op" names no operation
  unknown_policy,       // the policy named is not in the configuration
  empty_key,            // key is missing or empty
  key_too_long,         // key above the key size bound
  cost_above_limit,     // cost can never be admitted: above a limit that applies
  too_large,            // frame above the size bound (the connection is closed)
  too_many_items,       // more items in one check, or checks in one batch, than allowed
  reload_failed,        // the new configuration was rejected; the old one stays in force
  unavailable,          // the server cannot take it now (max_connections reached)
  internal,             // a bug: reported, never silently ignored
  // Client-side only (never sent by the server):
  io_error,        // socket connect/read/write failed
  protocol_error,  // the server's answer could not be understood
  // Sent by the server again (codes are append-only, so server codes may follow client ones):
  invalid_argument,  // well-formed but refused: an override that cannot apply, a value out of
                     // range, a bound reached (the message says which)
};

std::string_view errc_name(Errc code);
// Inverse of errc_name; unknown names map to Errc::internal.
Errc errc_from_name(std::string_view name);

struct Error {
  Errc code = Errc::internal;
  std::string message;
};

}  // namespace drl
