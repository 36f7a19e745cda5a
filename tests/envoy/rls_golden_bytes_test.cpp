// Golden bytes of Envoy's rate limit messages, written by hand from the field numbers of Envoy's
// rls.proto and ratelimit.proto (docs: ../shared/design/envoy-rls.md, proto/README.md). Our
// generated code must produce and read exactly these: a change of proto/ that would break Envoy
// (a field number, a type, a wrapper, an enum value) fails here.
//
// Protobuf wire format: a field is a tag, (field_number << 3) | wire_type, then its value.
// Wire type 0 is a varint (7 bits a byte, low first, high bit = more), 2 a length then bytes
// (strings, nested messages, packed data). Fields are written in field number order; proto3
// leaves out scalars at their default (0, "").
#include <doctest/doctest.h>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "envoy/rls_proto_codec.hpp"

using namespace drl::envoy;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values) out.push_back(static_cast<char>(value));
  return out;
}

std::string text(const char* s) {
  return s;
}

std::string hex(const std::string& data) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : data) {
    out += digits[c >> 4];
    out += digits[c & 15];
    out += ' ';
  }
  return out;
}

// RateLimitRequest {
//   domain: "edge"
//   descriptors { entries {key: "remote_address" value: "10.0.0.1"} entries {key: "path"
//                 value: "/login"} limit {requests_per_unit: 1000 unit: MINUTE}
//                 hits_addend {value: 3} }
//   descriptors { entries {key: "tenant" value: "a"} hits_addend {value: 0} }
//   hits_addend: 300
// }
const std::string golden_request =
    bytes({0x0a, 0x04}) + text("edge") +            // 1 domain, length 4
    bytes({0x12, 0x37}) +                           // 2 descriptors, length 55:
    bytes({0x0a, 0x1a}) +                           //   1 entries, length 26:
    bytes({0x0a, 0x0e}) + text("remote_address") +  // 1 key, 14
    bytes({0x12, 0x08}) + text("10.0.0.1") +        // 2 value, 8
    bytes({0x0a, 0x0e}) +                           //   1 entries, length 14:
    bytes({0x0a, 0x04}) + text("path") +            // 1 key, 4
    bytes({0x12, 0x06}) + text("/login") +          // 2 value, 6
    bytes({0x12, 0x05,                              //   2 limit, length 5:
           0x08, 0xe8, 0x07,                        //     1 requests_per_unit 1000
           0x10, 0x02}) +                           //     2 unit MINUTE
    bytes({0x1a, 0x02,                              //   3 hits_addend (UInt64Value), length 2:
           0x08, 0x03}) +                           //     1 value 3
    bytes({0x12, 0x0f}) +                           // 2 descriptors, length 15:
    bytes({0x0a, 0x0b}) +                           //   1 entries, length 11:
    bytes({0x0a, 0x06}) +
    text("tenant") +                   // 1 key, 6
    bytes({0x12, 0x01}) + text("a") +  // 2 value, 1
    bytes({0x1a, 0x00}) +              //   3 hits_addend, length 0: present, value 0
    bytes({0x18, 0xac, 0x02});         // 3 hits_addend 300

// RateLimitResponse {
//   overall_code: OVER_LIMIT
//   statuses { code: OVER_LIMIT current_limit {requests_per_unit: 5 unit: MINUTE name: "login"}
//              limit_remaining: 0 duration_until_reset {seconds: 42 nanos: 500000000} }
//   statuses { code: OK current_limit {requests_per_unit: 100 unit: WEEK name: "per_ip"}
//              limit_remaining: 99 duration_until_reset {seconds: 3599} }
//   statuses { code: OK }
//   response_headers_to_add { key: "X-RateLimit-Limit" value: "5" }
// }
const std::string golden_response =
    bytes({0x08, 0x02}) +  // 1 overall_code OVER_LIMIT
    bytes({0x12, 0x19}) +  // 2 statuses, length 25:
    bytes({0x08, 0x02}) +  //   1 code OVER_LIMIT
    bytes({0x12, 0x0b,     //   2 current_limit, length 11:
           0x08, 0x05,     //     1 requests_per_unit 5
           0x10, 0x02,     //     2 unit MINUTE
           0x1a, 0x05}) +
    text("login") +                                //     3 name, 5
    bytes({0x22, 0x08,                             //   4 duration_until_reset (Duration), length 8:
           0x08, 0x2a,                             //     1 seconds 42
           0x10, 0x80, 0xca, 0xb5, 0xee, 0x01}) +  // 2 nanos 500000000
    bytes({0x12, 0x17}) +                          // 2 statuses, length 23:
    bytes({0x08, 0x01}) +                          //   1 code OK
    bytes({0x12, 0x0c,                             //   2 current_limit, length 12:
           0x08, 0x64,                             //     1 requests_per_unit 100
           0x10, 0x07,                             //     2 unit WEEK
           0x1a, 0x06}) +
    text("per_ip") +             //     3 name, 6
    bytes({0x18, 0x63}) +        //   3 limit_remaining 99
    bytes({0x22, 0x03,           //   4 duration_until_reset, length 3:
           0x08, 0x8f, 0x1c}) +  //     1 seconds 3599
    bytes({0x12, 0x02,           // 2 statuses, length 2:
           0x08, 0x01}) +        //   1 code OK
    bytes({0x1a, 0x16}) +        // 3 response_headers_to_add (HeaderValue), 22:
    bytes({0x0a, 0x11}) +
    text("X-RateLimit-Limit") +       // 1 key, 17
    bytes({0x12, 0x01}) + text("5");  // 2 value, 1

RlsRequest plain_request() {
  RlsRequest request;
  request.domain = "edge";
  request.hits_addend = 300;
  RlsDescriptor& first = request.descriptors.emplace_back();
  first.entries = {{"remote_address", "10.0.0.1"}, {"path", "/login"}};
  first.limit = RlsLimitOverride{1000, RlsUnit::minute};
  first.hits_addend = 3;
  RlsDescriptor& second = request.descriptors.emplace_back();
  second.entries = {{"tenant", "a"}};
  second.hits_addend = 0;
  return request;
}

RlsResponse plain_response() {
  RlsResponse response;
  response.overall_code = RlsCode::over_limit;
  response.statuses.push_back(
      {RlsCode::over_limit, RlsRateLimit{"login", 5, RlsUnit::minute}, 0, 42'500});
  response.statuses.push_back(
      {RlsCode::ok, RlsRateLimit{"per_ip", 100, RlsUnit::week}, 99, 3'599'000});
  response.statuses.push_back({RlsCode::ok, std::nullopt, 0, std::nullopt});
  response.response_headers_to_add = {{"X-RateLimit-Limit", "5"}};
  return response;
}

std::string serialized(const google::protobuf::MessageLite& message) {
  std::string out;
  REQUIRE(message.SerializeToString(&out));
  return out;
}

}  // namespace

TEST_CASE("golden request: Envoy's bytes decode to the domain, descriptors and hits we expect") {
  RlsRequest request;
  const RlsStatus status = decode_request_bytes(golden_request, request);
  REQUIRE(status.ok());
  CHECK(request.domain == "edge");
  CHECK(request.hits_addend == 300);
  REQUIRE(request.descriptors.size() == 2);
  const RlsDescriptor& first = request.descriptors[0];
  REQUIRE(first.entries.size() == 2);
  CHECK(first.entries[0].key == "remote_address");
  CHECK(first.entries[0].value == "10.0.0.1");
  CHECK(first.entries[1].key == "path");
  CHECK(first.entries[1].value == "/login");
  REQUIRE(first.limit.has_value());
  CHECK(first.limit->requests_per_unit == 1000);
  CHECK(first.limit->unit == RlsUnit::minute);
  CHECK(first.hits_addend == std::optional<std::uint64_t>(3));
  const RlsDescriptor& second = request.descriptors[1];
  REQUIRE(second.entries.size() == 1);
  CHECK(second.entries[0].key == "tenant");
  CHECK(second.entries[0].value == "a");
  CHECK_FALSE(second.limit.has_value());
  CHECK(second.hits_addend == std::optional<std::uint64_t>(0));  // present, and 0
}

TEST_CASE("golden request: our encoder writes Envoy's bytes") {
  PbRateLimitRequest request;
  encode_request(plain_request(), request);
  const std::string out = serialized(request);
  INFO("ours:   " << hex(out));
  INFO("golden: " << hex(golden_request));
  CHECK(out == golden_request);
}

TEST_CASE("golden response: our answer is written as the bytes Envoy reads") {
  PbRateLimitResponse response;
  encode_response(plain_response(), response);
  const std::string out = serialized(response);
  INFO("ours:   " << hex(out));
  INFO("golden: " << hex(golden_response));
  CHECK(out == golden_response);
}

TEST_CASE("golden response: the bytes read back as the answer they were written from") {
  PbRateLimitResponse response;
  REQUIRE(response.ParseFromString(golden_response));
  RlsResponse plain;
  decode_response(response, plain);
  const RlsResponse expected = plain_response();
  CHECK(plain.overall_code == expected.overall_code);
  REQUIRE(plain.statuses.size() == expected.statuses.size());
  for (std::size_t i = 0; i < plain.statuses.size(); ++i) {
    CAPTURE(i);
    const RlsDescriptorStatus& got = plain.statuses[i];
    const RlsDescriptorStatus& want = expected.statuses[i];
    CHECK(got.code == want.code);
    REQUIRE(got.current_limit.has_value() == want.current_limit.has_value());
    if (want.current_limit) {
      CHECK(got.current_limit->name == want.current_limit->name);
      CHECK(got.current_limit->requests_per_unit == want.current_limit->requests_per_unit);
      CHECK(got.current_limit->unit == want.current_limit->unit);
    }
    CHECK(got.limit_remaining == want.limit_remaining);
    CHECK(got.duration_until_reset_ms == want.duration_until_reset_ms);
  }
  CHECK(plain.response_headers_to_add == expected.response_headers_to_add);
}
