// Envoy's rate limit messages: protobuf (proto/envoy/...) <-> the plain types of
// envoy/rls_types.hpp, which are all the decision logic sees. Requests are untrusted:
// decode_request checks the bounds of core/bounds.hpp and refuses a request beyond them with a
// status, never a crash. Stateless functions: safe from any thread.
#pragma once

#include <string_view>

#include "envoy/rls_status.hpp"
#include "envoy/rls_types.hpp"
#include "envoy/service/ratelimit/v3/rls.pb.h"

namespace drl::envoy {

// The generated types are in ::envoy, a name that drl::envoy hides in here.
using PbRateLimitRequest = ::envoy::service::ratelimit::v3::RateLimitRequest;
using PbRateLimitResponse = ::envoy::service::ratelimit::v3::RateLimitResponse;

// A request as Envoy sends it -> `out` (overwritten). Refused with invalid_argument, the message
// naming the descriptor and the bound:
//  - an empty domain, or no descriptor (envoyproxy/ratelimit refuses both too);
//  - more than a bound of bounds::rls_*: domain bytes, descriptors, entries in a descriptor, key
//    and value bytes of a descriptor;
//  - a descriptor's hits_addend above 2^32 - 1 (Envoy's API allows no more).
// Unit values Envoy may add later (beyond WEEK) decode as RlsUnit::unknown. After a refusal `out`
// holds part of the request: do not use it.
RlsStatus decode_request(const PbRateLimitRequest& in, RlsRequest& out);

// Serialized RateLimitRequest bytes -> `out`: gRPC's parsing, then decode_request. For the fuzz
// harness and the tests. Also refused: more than bounds::rls_request_bytes_max bytes (which gRPC
// refuses itself, with RESOURCE_EXHAUSTED), and bytes that are not a RateLimitRequest.
RlsStatus decode_request_bytes(std::string_view bytes, RlsRequest& out);

// An answer -> the response Envoy reads (`out` is cleared first). duration_until_reset_ms becomes
// a google.protobuf.Duration; response_headers_to_add HeaderValue {key, value}.
void encode_response(const RlsResponse& in, PbRateLimitResponse& out);

// The client's side, for tests and load generators. No bounds are checked.
void encode_request(const RlsRequest& in, PbRateLimitRequest& out);
void decode_response(const PbRateLimitResponse& in, RlsResponse& out);

}  // namespace drl::envoy
