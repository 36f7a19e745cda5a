// Client side of the client protocol: a response frame to plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drl/decision.hpp"
#include "drl/override.hpp"
#include "drl/result.hpp"
#include "drl/status.hpp"

namespace drl::wire {

struct Response {
  std::uint64_t id = 0;
  std::optional<Error> error;  // the request failed as a whole
  // op check:
  Decision decision;
  // op batch: one per check, in order.
  std::vector<Result<Decision>> results;
  // op ping:
  bool pong = false;
  std::string server;
  // op reload:
  bool reloaded = false;
  std::uint64_t generation = 0;
  std::string message;
  // op status: the status map as JSON text, and as a report.
  std::string status_json;
  StatusReport status;
  // op inspect: the counters, and the same as JSON text.
  std::vector<CounterState> counters;
  std::string counters_json;
  // op override_set: the record stored; op override_list: every active one (and as JSON).
  std::optional<OverrideInfo> override_record;
  std::vector<OverrideInfo> overrides;
  std::string overrides_json;
  // op override_clear: how many overrides were cleared.
  std::optional<std::uint64_t> cleared;
  // op report:
  bool reported = false;
};

// Fails (Errc::protocol_error) when the frame is not a response this client understands.
Result<Response> decode_response(std::string_view frame);

}  // namespace drl::wire
