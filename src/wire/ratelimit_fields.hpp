// The IETF rate-limit fields of a decided check (draft-ietf-httpapi-ratelimit-headers):
// RateLimit-Policy and RateLimit, structured-field lists with one item per limit. Text only, no
// HTTP: the HTTP decision endpoint (src/http/) and Envoy's rate limit service (src/envoy/, which
// hands them to Envoy as response headers) write the same fields from the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/check_engine.hpp"

namespace drl::wire {

struct RateLimitFields {
  std::string policy;     // RateLimit-Policy: "name";q=LIMIT;w=WINDOW_SECONDS, ...
  std::string remaining;  // RateLimit: "name";r=REMAINING;t=RESET_SECONDS, ...
};

// Both fields for every limit of `outcome` (decided, outcome.error == Errc::ok); empty strings
// when it has no limit.
RateLimitFields ratelimit_fields(const core::CheckOutcome& outcome);

// Seconds for Retry-After and the "t" parameter: rounded up, so that a client that waits that
// long is never early.
std::uint64_t whole_seconds_up(std::uint64_t ms);

// The structured-field name of a limit: the policy, ":endpoint" if scoped, "/window" if the
// check has several limits of the same scope. Quoted and escaped as an sf-string.
std::string limit_item_name(const core::CheckOutcome& outcome, std::size_t index);

// An sf-string: printable ASCII only (any other character, UTF-8 or not, becomes one '?'), with
// '"' and '\' escaped.
std::string sf_string(std::string_view text);

}  // namespace drl::wire
