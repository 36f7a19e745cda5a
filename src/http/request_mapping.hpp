// From an HTTP request to a check: which policy (the path /v1/check/POLICY or ?policy=), and
// where key, tier, endpoint and cost come from (the policy's [policy.http] sources).
#pragma once

#include <cstdint>
#include <string>
#include <variant>

#include "core/policy.hpp"
#include "http/http_request.hpp"

namespace drl::http {

struct MappedCheck {
  std::string policy;
  std::string key;
  std::string tier;
  std::string endpoint;
  std::uint64_t cost = 1;
  int deny_status = 429;  // ?deny_status=403 for nginx's auth_request, which passes only 401/403
};

struct MappingError {
  int status = 400;
  std::string detail;
};

// `path_prefix` is the route ("/v1/check"); the policy may follow it as a path segment.
// Returns the check, or the HTTP error to answer with.
std::variant<MappedCheck, MappingError> map_request(const core::PolicySet& policies,
                                                    const HttpRequestView& request,
                                                    std::string_view path_prefix);

}  // namespace drl::http
