// Envoy's rate limit service (envoy.service.ratelimit.v3), as plain C++: what the gRPC layer
// decodes a RateLimitRequest into and encodes a RateLimitResponse from. No protobuf types here,
// so that the decision logic (and its tests, and the fuzz harness) do not depend on gRPC.
// Field numbers and meanings: docs/integration.md#envoy and ../shared/design/envoy-rls.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace drl::envoy {

// envoy.type.v3.RateLimitUnit / RateLimitResponse.RateLimit.Unit (WEEK exists only in the
// latter). Values are the wire values.
enum class RlsUnit : std::uint8_t {
  unknown = 0,
  second = 1,
  minute = 2,
  hour = 3,
  day = 4,
  month = 5,
  year = 6,
  week = 7,
};

// RateLimitResponse.Code.
enum class RlsCode : std::uint8_t { unknown = 0, ok = 1, over_limit = 2 };

struct RlsEntry {
  std::string key;
  std::string value;
};

struct RlsLimitOverride {
  std::uint32_t requests_per_unit = 0;
  RlsUnit unit = RlsUnit::unknown;
};

struct RlsDescriptor {
  std::vector<RlsEntry> entries;
  std::optional<RlsLimitOverride> limit;     // field 2
  std::optional<std::uint64_t> hits_addend;  // field 3 (UInt64Value): overrides the request's
};

struct RlsRequest {
  std::string domain;
  std::vector<RlsDescriptor> descriptors;
  std::uint32_t hits_addend = 0;  // 0 means 1
};

struct RlsRateLimit {
  std::string name;
  std::uint32_t requests_per_unit = 0;
  RlsUnit unit = RlsUnit::unknown;
};

struct RlsDescriptorStatus {
  RlsCode code = RlsCode::ok;
  std::optional<RlsRateLimit> current_limit;  // absent when no limit applies
  std::uint32_t limit_remaining = 0;
  std::optional<std::uint64_t> duration_until_reset_ms;  // absent when no limit applies
};

struct RlsResponse {
  RlsCode overall_code = RlsCode::ok;
  std::vector<RlsDescriptorStatus> statuses;  // one per request descriptor, in order
  std::vector<std::pair<std::string, std::string>> response_headers_to_add;
};

}  // namespace drl::envoy
