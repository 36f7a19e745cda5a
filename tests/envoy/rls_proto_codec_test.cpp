#include "envoy/rls_proto_codec.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "core/bounds.hpp"

using namespace drl;
using namespace drl::envoy;

namespace {

// A request with `descriptors` descriptors of `entries` entries each, "k<i>" = "v<i>".
PbRateLimitRequest request_of(std::size_t descriptors, std::size_t entries) {
  PbRateLimitRequest request;
  request.set_domain("edge");
  for (std::size_t d = 0; d < descriptors; ++d) {
    auto& descriptor = *request.add_descriptors();
    for (std::size_t e = 0; e < entries; ++e) {
      auto& entry = *descriptor.add_entries();
      entry.set_key("k" + std::to_string(e));
      entry.set_value("v" + std::to_string(e));
    }
  }
  return request;
}

RlsStatus decode(const PbRateLimitRequest& request) {
  RlsRequest out;
  return decode_request(request, out);
}

bool refused_naming(const RlsStatus& status, const std::string& words) {
  return status.code == RlsStatusCode::invalid_argument &&
         status.message.find(words) != std::string::npos;
}

}  // namespace

TEST_CASE("rls codec: a request needs a domain and a descriptor, as envoyproxy/ratelimit says") {
  PbRateLimitRequest request = request_of(1, 1);
  request.clear_domain();
  CHECK(refused_naming(decode(request), "rate limit domain must not be empty"));
  CHECK(refused_naming(decode(request_of(0, 0)), "rate limit descriptor list must not be empty"));
  CHECK(decode(request_of(1, 1)).ok());
}

TEST_CASE("rls codec: descriptors up to the bound are decoded, one more is INVALID_ARGUMENT") {
  const std::size_t max = bounds::rls_descriptors_per_request_max;
  RlsRequest out;
  REQUIRE(decode_request(request_of(max, 1), out).ok());
  CHECK(out.descriptors.size() == max);
  CHECK(refused_naming(decode(request_of(max + 1, 1)),
                       std::to_string(max + 1) + " descriptors, more than " + std::to_string(max)));
}

TEST_CASE("rls codec: entries per descriptor up to the bound, one more is INVALID_ARGUMENT") {
  const std::size_t max = bounds::rls_entries_per_descriptor_max;
  RlsRequest out;
  REQUIRE(decode_request(request_of(2, max), out).ok());
  CHECK(out.descriptors[1].entries.size() == max);
  CHECK(out.descriptors[1].entries[max - 1].key == "k" + std::to_string(max - 1));
  PbRateLimitRequest request = request_of(2, 1);
  for (std::size_t e = 1; e <= max; ++e) {
    auto& entry = *request.mutable_descriptors(1)->add_entries();
    entry.set_key("k");
    entry.set_value("v");
  }
  CHECK(refused_naming(decode(request), "descriptor 1 has " + std::to_string(max + 1) +
                                            " entries, more than " + std::to_string(max)));
}

TEST_CASE("rls codec: an entry's key and value up to the byte bound, one byte more refused") {
  const std::size_t max = bounds::rls_entry_bytes_max;
  PbRateLimitRequest request = request_of(1, 2);
  auto* entries = request.mutable_descriptors(0)->mutable_entries();
  entries->Mutable(0)->set_key(std::string(max, 'k'));
  entries->Mutable(0)->set_value(std::string(max, 'a'));
  entries->Mutable(1)->set_value(std::string(max, 'b'));
  CHECK(decode(request).ok());
  entries->Mutable(1)->mutable_value()->push_back('b');
  CHECK(refused_naming(decode(request), "descriptor 0 has an entry's key or value longer than " +
                                            std::to_string(max) + " bytes"));
  entries->Mutable(1)->mutable_value()->pop_back();
  entries->Mutable(0)->mutable_key()->push_back('k');
  CHECK(refused_naming(decode(request), "key or value longer than"));
}

TEST_CASE("rls codec: a domain up to the byte bound, one byte more refused") {
  PbRateLimitRequest request = request_of(1, 1);
  request.set_domain(std::string(bounds::rls_domain_bytes_max, 'd'));
  CHECK(decode(request).ok());
  request.mutable_domain()->push_back('d');
  CHECK(refused_naming(decode(request), "the domain has"));
}

TEST_CASE("rls codec: a descriptor's hits_addend is told apart when absent, 0, or beyond 32 bits") {
  PbRateLimitRequest request = request_of(3, 1);
  request.mutable_descriptors(1)->mutable_hits_addend()->set_value(0);
  request.mutable_descriptors(2)->mutable_hits_addend()->set_value(0xffff'ffffULL);
  request.set_hits_addend(0);
  RlsRequest out;
  REQUIRE(decode_request(request, out).ok());
  CHECK(out.hits_addend == 0);  // 0 means 1: the decider's to say, not the codec's
  CHECK_FALSE(out.descriptors[0].hits_addend.has_value());
  CHECK(out.descriptors[1].hits_addend == std::optional<std::uint64_t>(0));
  CHECK(out.descriptors[2].hits_addend == std::optional<std::uint64_t>(0xffff'ffffULL));

  request.mutable_descriptors(2)->mutable_hits_addend()->set_value(0x1'0000'0000ULL);
  CHECK(refused_naming(decode(request), "descriptor 2 has hits_addend 4294967296"));
}

TEST_CASE("rls codec: a limit override keeps its requests per unit and unit, unknown units too") {
  PbRateLimitRequest request = request_of(4, 1);
  request.mutable_descriptors(1)->mutable_limit()->set_requests_per_unit(10);
  request.mutable_descriptors(1)->mutable_limit()->set_unit(::envoy::type::v3::YEAR);
  // An open enum: a value our proto does not name arrives as a number. 7 is WEEK in the
  // response's enum, which a later Envoy may send here too; 42 is no unit.
  request.mutable_descriptors(2)->mutable_limit()->set_unit(
      static_cast<::envoy::type::v3::RateLimitUnit>(7));
  request.mutable_descriptors(3)->mutable_limit()->set_unit(
      static_cast<::envoy::type::v3::RateLimitUnit>(42));
  RlsRequest out;
  REQUIRE(decode_request(request, out).ok());
  CHECK_FALSE(out.descriptors[0].limit.has_value());
  REQUIRE(out.descriptors[1].limit.has_value());
  CHECK(out.descriptors[1].limit->requests_per_unit == 10);
  CHECK(out.descriptors[1].limit->unit == RlsUnit::year);
  CHECK(out.descriptors[2].limit->unit == RlsUnit::week);
  CHECK(out.descriptors[3].limit->unit == RlsUnit::unknown);
  CHECK(out.descriptors[3].limit->requests_per_unit == 0);
}

TEST_CASE("rls codec: bytes beyond the request bound, or not a request, are INVALID_ARGUMENT") {
  RlsRequest out;
  CHECK(refused_naming(
      decode_request_bytes(std::string(bounds::rls_request_bytes_max + 1, '\0'), out),
      "bytes, more than"));
  // Field 1 (domain) announces 100 bytes and has 4.
  CHECK(refused_naming(decode_request_bytes(std::string("\x0a\x64"
                                                        "edge"),
                                            out),
                       "not a RateLimitRequest"));
  // A tag with wire type 7, which does not exist.
  CHECK(
      refused_naming(decode_request_bytes(std::string("\x0f\x01"), out), "not a RateLimitRequest"));
  // proto3 strings must be UTF-8: a descriptor value that is not is refused, as Envoy's and
  // envoyproxy/ratelimit's protobuf libraries refuse it.
  PbRateLimitRequest request = request_of(1, 1);
  request.mutable_descriptors(0)->mutable_entries(0)->set_value("\xff\xfe");
  std::string bytes;
  request.SerializePartialToString(&bytes);
  CHECK(refused_naming(decode_request_bytes(bytes, out), "not a RateLimitRequest"));
}

TEST_CASE("rls codec: a request survives encode and decode unchanged") {
  RlsRequest in;
  in.domain = "mongo_cps";
  in.hits_addend = 7;
  in.descriptors.push_back({{{"database", "users"}}, RlsLimitOverride{3, RlsUnit::hour}, 12});
  in.descriptors.push_back({{{"remote_address", "::1"}, {"path", ""}}, std::nullopt, std::nullopt});
  PbRateLimitRequest pb;
  encode_request(in, pb);
  RlsRequest out;
  REQUIRE(decode_request(pb, out).ok());
  CHECK(out.domain == in.domain);
  CHECK(out.hits_addend == 7);
  REQUIRE(out.descriptors.size() == 2);
  CHECK(out.descriptors[0].entries[0].key == "database");
  CHECK(out.descriptors[0].limit->unit == RlsUnit::hour);
  CHECK(out.descriptors[0].hits_addend == std::optional<std::uint64_t>(12));
  CHECK(out.descriptors[1].entries[1].key == "path");
  CHECK(out.descriptors[1].entries[1].value.empty());
  CHECK_FALSE(out.descriptors[1].limit.has_value());
  CHECK_FALSE(out.descriptors[1].hits_addend.has_value());
}

TEST_CASE("rls codec: the reset is a Duration of seconds and nanos; no limit, no Duration") {
  RlsResponse in;
  in.overall_code = RlsCode::ok;
  in.statuses.push_back({RlsCode::ok, RlsRateLimit{"", 10, RlsUnit::second}, 9, 1'500});
  in.statuses.push_back({RlsCode::ok, RlsRateLimit{"", 10, RlsUnit::day}, 0, 86'400'000});
  in.statuses.push_back({RlsCode::ok, std::nullopt, 0xffff'ffffU, std::nullopt});  // unlimited
  PbRateLimitResponse out;
  out.add_request_headers_to_add();  // cleared by the encoder
  encode_response(in, out);
  CHECK(out.request_headers_to_add_size() == 0);
  REQUIRE(out.statuses_size() == 3);
  CHECK(out.statuses(0).duration_until_reset().seconds() == 1);
  CHECK(out.statuses(0).duration_until_reset().nanos() == 500'000'000);
  CHECK(out.statuses(1).duration_until_reset().seconds() == 86'400);
  CHECK(out.statuses(1).duration_until_reset().nanos() == 0);
  CHECK(out.statuses(1).current_limit().unit() == PbRateLimitResponse::RateLimit::DAY);
  CHECK_FALSE(out.statuses(2).has_current_limit());
  CHECK_FALSE(out.statuses(2).has_duration_until_reset());
  CHECK(out.statuses(2).limit_remaining() == 0xffff'ffffU);
}

TEST_CASE("rls codec: response headers become HeaderValue key and value, in order") {
  RlsResponse in;
  in.statuses.push_back({});
  in.response_headers_to_add = {{"RateLimit-Policy", "\"edge\";q=5;w=60"},
                                {"RateLimit", "\"edge\";r=4;t=60"}};
  PbRateLimitResponse out;
  encode_response(in, out);
  REQUIRE(out.response_headers_to_add_size() == 2);
  CHECK(out.response_headers_to_add(0).key() == "RateLimit-Policy");
  CHECK(out.response_headers_to_add(0).value() == "\"edge\";q=5;w=60");
  CHECK(out.response_headers_to_add(1).key() == "RateLimit");
  CHECK(out.response_headers_to_add(1).raw_value().empty());
}
