// Fuzzes Envoy's rate limit service as drld's gRPC handler sees it: the bytes of a
// RateLimitRequest, parsed by protobuf and decoded with the bounds (decode_request_bytes), then
// decided by RlsDecider on a real CounterStore and CheckEngine against fixed YAML rules that use
// every feature: envoyproxy/ratelimit's README examples (nested descriptors, a block list with
// limit 0, unlimited, shadow_mode, replaces, detailed_metric, wildcards with and without
// share_threshold) and drl's extensions (sliding windows, window:, several limits on one
// descriptor), with small limits so that repeated requests run over them. The request's own
// limit overrides and hits_addend reach the decider as Envoy sends them.
//
// Input: one serialized RateLimitRequest (tests/fuzz/corpus/rls_request, make_seeds.py). It is
// decided four times on a fresh store: three times at one instant (so that the limits fill up
// and the request is denied), once 1.5 s later (a second window starts, and sliding windows
// weigh the previous one). Invariants: a refused request is refused with a message and within
// the bounds; a decoded one encodes back to itself; every decision satisfies rls_invariants.hpp.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_policies.hpp"
#include "envoy/rls_proto_codec.hpp"
#include "fuzz_assert.hpp"
#include "rls_invariants.hpp"

namespace {

using namespace drl;
using namespace drl::envoy;

// One domain per file, as in a config_dir.
const RlsFile kFiles[] = {
    // README example 1: values listed one by one.
    {"mongo_cps.yaml", R"(
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit:
      unit: second
      requests_per_unit: 3
  - key: database
    value: default
    rate_limit:
      unit: second
      requests_per_unit: 2
)"},
    // README example 2: nested, and the same key at two depths.
    {"messaging.yaml", R"(
domain: messaging
descriptors:
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 2
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 5
)"},
    // README example 3: per IP, and a block list (limit 0).
    {"edge_proxy_per_ip.yaml", R"(
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    rate_limit:
      unit: second
      requests_per_unit: 4
  - key: remote_address
    value: 50.0.0.5
    rate_limit:
      unit: second
      requests_per_unit: 0
)"},
    // README examples 4 and 5: depth matters; unlimited.
    {"internal.yaml", R"(
domain: internal
descriptors:
  - key: ldap
    rate_limit:
      unlimited: true
  - key: azure
    rate_limit:
      unit: minute
      requests_per_unit: 2
  - key: key
    value: value
    rate_limit:
      requests_per_unit: 3
      unit: second
    descriptors:
      - key: subkey
        rate_limit:
          requests_per_unit: 2
          unit: second
)"},
    // README example 6: shadow_mode, at two depths.
    {"example6.yaml", R"(
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit:
          requests_per_unit: 1
          unit: second
        shadow_mode: true
      - key: user
        value: user-b
        rate_limit:
          requests_per_unit: 2
          unit: second
  - key: shadow_all
    shadow_mode: true
    rate_limit:
      requests_per_unit: 0
      unit: minute
)"},
    // README example 7: replaces, and a name nothing replaces.
    {"example7.yaml", R"(
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          name: specific_limit
          requests_per_unit: 2
          unit: second
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces:
            - name: specific_limit
          requests_per_unit: 3
          unit: second
      - key: user
        rate_limit:
          name: per_user
          requests_per_unit: 4
          unit: minute
)"},
    // README examples 8 and 9: detailed_metric; wildcards, share_threshold, exact before prefix.
    {"example8.yaml", R"(
domain: example8
descriptors:
  - key: key1
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 2
  - key: key1
    value: value1
    rate_limit:
      unit: minute
      requests_per_unit: 3
  - key: wild
    value: value*
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 2
  - key: path
    value: files/*
    share_threshold: true
    rate_limit: {unit: hour, requests_per_unit: 3}
  - key: path
    value: files/special
    rate_limit: {unit: hour, requests_per_unit: 1}
  - {key: p, value: "/api/*", rate_limit: {unit: week, requests_per_unit: 1}}
  - {key: p, value: "/api/v2*", rate_limit: {unit: month, requests_per_unit: 2}}
  - {key: p, rate_limit: {unit: year, requests_per_unit: 4}}
)"},
    // drl's extensions: sliding windows, window:, several limits (one of them 0, one the
    // largest count a limit can have).
    {"drl.yaml", R"(
domain: drl
descriptors:
  - key: api
    rate_limit:
      unit: second
      requests_per_unit: 2
      algorithm: sliding
  - key: burst
    rate_limits:
      - {unit: second, requests_per_unit: 3}
      - {window: 10s, requests_per_unit: 5, algorithm: sliding}
      - {window: 250ms, requests_per_unit: 2}
  - key: closed
    rate_limits:
      - {unit: minute, requests_per_unit: 5}
      - {unit: hour, requests_per_unit: 0}
  - key: huge
    rate_limit:
      unit: second
      requests_per_unit: 4294967295
  - key: tenant
    descriptors:
      - key: plan
        value: free
        rate_limit: {window: 5m, requests_per_unit: 2}
        descriptors:
          - key: user
            rate_limit: {window: 1s, requests_per_unit: 1, algorithm: sliding}
      - key: plan
        rate_limit: {unit: second, requests_per_unit: 3}
)"},
};

void quiet_protobuf(google::protobuf::LogLevel, const char*, int, const std::string&) {}

struct Fixture {
  std::shared_ptr<const RlsRules> rules;

  Fixture() {
    // Protobuf logs every string that is not UTF-8: noise at each execution.
    google::protobuf::SetLogHandler(&quiet_protobuf);
    Result<RlsConfig> config = parse_rls_files(kFiles);
    if (!config.ok()) std::fprintf(stderr, "%s\n", config.error().message.c_str());
    FUZZ_ASSERT(config.ok());
    Result<std::shared_ptr<const RlsRules>> built = RlsRules::build(std::move(config.value()));
    if (!built.ok()) std::fprintf(stderr, "%s\n", built.error().message.c_str());
    FUZZ_ASSERT(built.ok());
    rules = built.value();
  }
};

// What decode_request_bytes promises of a request it accepts.
void check_bounds(const RlsRequest& request) {
  FUZZ_ASSERT(!request.domain.empty() && request.domain.size() <= bounds::rls_domain_bytes_max);
  FUZZ_ASSERT(!request.descriptors.empty() &&
              request.descriptors.size() <= bounds::rls_descriptors_per_request_max);
  for (const RlsDescriptor& descriptor : request.descriptors) {
    FUZZ_ASSERT(descriptor.entries.size() <= bounds::rls_entries_per_descriptor_max);
    for (const RlsEntry& entry : descriptor.entries) {
      FUZZ_ASSERT(entry.key.size() <= bounds::rls_entry_bytes_max &&
                  entry.value.size() <= bounds::rls_entry_bytes_max);
    }
    if (descriptor.hits_addend) FUZZ_ASSERT(*descriptor.hits_addend <= 0xffff'ffffULL);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  RlsRequest request;
  const RlsStatus decoded = decode_request_bytes(bytes, request);
  if (!decoded.ok()) {
    FUZZ_ASSERT(decoded.code == RlsStatusCode::invalid_argument && !decoded.message.empty());
    return 0;
  }
  check_bounds(request);
  // What the client side encodes from it decodes to the same request.
  PbRateLimitRequest encoded;
  encode_request(request, encoded);
  RlsRequest again;
  FUZZ_ASSERT(decode_request(encoded, again).ok());
  FUZZ_ASSERT(fuzz::same_request(again, request));

  // Not on a window boundary of any unit, so that the fourth decision's window is the next one
  // for the short windows only.
  core::WallTime now{1'800'000'000'250};
  fuzz::RlsHarness harness(fixture.rules);
  for (int round = 0; round < 3; ++round) harness.decide(now, request);
  now.unix_ms += 1500;
  harness.decide(now, request);
  return 0;
}
