// Client side of the client protocol: a response frame to plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drl/decision.hpp"
#include "drl/result.hpp"

namespace drl::wire {

struct Response {
  std::uint64_t id = 0;
  std::optional<Error> error;  // the request failed as a whole
  // op check:
  Decision decision;
  bool tier_unknown = false;
  // op batch: one per check, in order.
  std::vector<Result<Decision>> results;
  // op ping:
  bool pong = false;
  std::string server;
  // op reload:
  bool reloaded = false;
  std::uint64_t generation = 0;
  std::string message;
  // op status: the status map as JSON text, and its top-level fields as text (nested values
  // as compact JSON).
  std::string status_json;
  std::vector<std::pair<std::string, std::string>> status_fields;
};

// Fails (Errc::protocol_error) when the frame is not a response this client understands.
Result<Response> decode_response(std::string_view frame);

}  // namespace drl::wire
