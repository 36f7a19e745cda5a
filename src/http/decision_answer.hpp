// HTTP answers of the decision endpoint: status, the IETF rate-limit fields
// (draft-ietf-httpapi-ratelimit-headers: RateLimit-Policy and RateLimit, structured-field
// lists with one item per limit), Retry-After on denials, and an application/problem+json body
// (RFC 9457) on 429.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/check_engine.hpp"
#include "http/request_mapping.hpp"
#include "wire/ratelimit_fields.hpp"

namespace drl::http {

struct HttpAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The answer to a decided check (outcome.error == Errc::ok). `policies`: the set it was decided
// with; when the binding limit is adjusted (a runtime override, a load-adaptive factor), the
// answer says so: a Drl-Adjusted field (the note, with the configured limit as a parameter) and
// configured_limit / adjusted in the JSON body. Null leaves them out.
HttpAnswer answer_decision(const core::CheckOutcome& outcome, const MappedCheck& check,
                           bool problem_details, const core::PolicySet* policies = nullptr);

// An error answer (400, 404, ...): a problem+json body naming the problem.
HttpAnswer answer_error(int status, const std::string& detail);

// Shared with Envoy's rate limit service: wire/ratelimit_fields.hpp.
using wire::limit_item_name;
using wire::whole_seconds_up;

}  // namespace drl::http
