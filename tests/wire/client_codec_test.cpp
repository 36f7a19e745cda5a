// Requests and answers of the client protocol, both directions, and hostile input.
#include <doctest/doctest.h>

#include <array>

#include <msgpack.hpp>

#include <random>
#include <string>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "wire/frame_reader.hpp"
#include "wire/request_decoder.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"
#include "wire/response_encoder.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

std::string_view body_of(const std::string& framed) {
  return std::string_view(framed).substr(4);
}

// A msgpack map built by the test, as a client in another language would send it.
template <class Fn>
std::string packed(Fn&& fill) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  fill(pk);
  return std::string(buffer.data(), buffer.size());
}

template <class P>
void str(P& pk, std::string_view s) {
  pk.pack_str(static_cast<std::uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
}

Result<Done> decode(RequestDecoder& decoder, const std::string& body, Request& request) {
  return decoder.decode(body, request);
}

}  // namespace

TEST_CASE("codec: a check request round-trips through the client encoder and server decoder") {
  std::string framed;
  const CheckRequest item{"api", "user-42", 3, "pro", "POST /login"};
  encode_check_request(framed, 77, std::span<const CheckRequest>(&item, 1), true);
  RequestDecoder decoder(1024, 65536);
  Request request;
  REQUIRE(decoder.decode(body_of(framed), request).ok());
  CHECK(request.id == 77);
  CHECK(request.op == Op::check);
  REQUIRE(request.checks.size() == 1);
  CHECK(request.checks[0].detail);
  REQUIRE(request.items.size() == 1);
  CHECK(request.items[0].policy == "api");
  CHECK(request.items[0].key == "user-42");
  CHECK(request.items[0].cost == 3);
  CHECK(request.items[0].tier == "pro");
  CHECK(request.items[0].endpoint == "POST /login");
}

TEST_CASE("codec: compound checks and batches round-trip") {
  const CheckRequest items[] = {{"user", "u1", 1, "", ""}, {"tenant", "t1", 2, "", ""}};
  RequestDecoder decoder(1024, 65536);
  Request request;
  std::string compound;
  encode_check_request(compound, 1, items, false);
  REQUIRE(decoder.decode(body_of(compound), request).ok());
  REQUIRE(request.checks.size() == 1);
  CHECK(request.checks[0].count == 2);
  CHECK(request.items[1].policy == "tenant");
  CHECK(request.items[1].cost == 2);

  std::string batch;
  encode_batch_request(batch, 2, items, false);
  REQUIRE(decoder.decode(body_of(batch), request).ok());
  CHECK(request.op == Op::batch);
  REQUIRE(request.checks.size() == 2);
  CHECK(request.checks[0].count == 1);
  CHECK(request.checks[1].count == 1);
  CHECK(request.items[request.checks[1].first].key == "t1");
}

TEST_CASE("codec: a decision answer round-trips with its binding limit and details") {
  auto parsed = config::parse_config(R"(
    [[policy]]
    name = "api"
    limits = [{ limit = 2, window = "1s" }, { limit = 100, window = "1h", algorithm = "fixed" }]
  )",
                                     "test");
  REQUIRE(parsed.ok());
  core::CounterStore store(core::StoreOptions{100, 1});
  core::CheckEngine engine(store, 0);
  core::CheckOutcome outcome;
  const core::CheckItem item{"api", "k", "", "", 1};
  for (int i = 0; i < 3; ++i) {
    engine.check(*parsed->policies, core::WallTime{3'600'000'000}, std::span(&item, 1), outcome);
  }
  REQUIRE_FALSE(outcome.allowed);
  std::string framed;
  ResponseEncoder(framed).decision(9, outcome, true);
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  CHECK(response->id == 9);
  CHECK_FALSE(response->error.has_value());
  const Decision& decision = response->decision;
  CHECK_FALSE(decision.allowed);
  CHECK(decision.limit == 2);
  CHECK(decision.window_ms == 1000);
  CHECK(decision.remaining == 0);
  CHECK(decision.retry_after_ms == 1500);  // next window, from 2*(1000-e)/1000 + 1 <= 2
  CHECK(decision.reset_after_ms == 2000);
  REQUIRE(decision.limits.size() == 2);
  CHECK(decision.limits[1].algorithm == "fixed");
  CHECK(decision.limits[1].limit == 100);
  CHECK(decision.limits[1].remaining == 98);
  CHECK(decision.limits[1].allowed);
}

TEST_CASE(
    "codec: a decision of a hard limit says so, and an approximate one leaves the field out") {
  auto parsed = config::parse_config(R"(
    [[policy]]
    name = "sms"
    limit = 5
    window = "1m"
    enforcement = "hard"

    [[policy]]
    name = "api"
    limit = 100
    window = "1m"
  )",
                                     "test");
  REQUIRE(parsed.ok());
  core::CounterStore store(core::StoreOptions{100, 1});
  core::CheckEngine engine(store, 0);
  core::CheckOutcome outcome;
  const std::array<core::CheckItem, 2> items{core::CheckItem{"sms", "k", "", "", 1},
                                             core::CheckItem{"api", "k", "", "", 1}};
  engine.check(*parsed->policies, core::WallTime{3'600'000'000}, items, outcome);
  std::string framed;
  ResponseEncoder(framed).decision(3, outcome, true);
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  const Decision& decision = response->decision;
  CHECK(decision.policy == "sms");  // the least remaining: 4 of 5
  CHECK(decision.enforcement == "hard");
  REQUIRE(decision.limits.size() == 2);
  CHECK(decision.limits[0].enforcement == "hard");
  CHECK(decision.limits[1].enforcement == "approximate");
  CHECK(framed.find("enforcement") != std::string::npos);

  const core::CheckItem api{"api", "k", "", "", 1};
  engine.check(*parsed->policies, core::WallTime{3'600'000'000}, std::span(&api, 1), outcome);
  std::string plain;
  ResponseEncoder(plain).decision(4, outcome, false);
  CHECK(plain.find("enforcement") == std::string::npos);
  CHECK(decode_response(body_of(plain))->decision.enforcement == "approximate");
}

TEST_CASE("codec: an error answer carries its code and message") {
  std::string framed;
  ResponseEncoder(framed).error(5, Errc::unknown_policy, "unknown policy 'x'");
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  CHECK(response->id == 5);
  REQUIRE(response->error.has_value());
  CHECK(response->error->code == Errc::unknown_policy);
  CHECK(response->error->message == "unknown policy 'x'");
}

TEST_CASE("codec: error names round-trip for every code") {
  for (int code = 0; code <= static_cast<int>(Errc::invalid_argument); ++code) {
    const auto errc = static_cast<Errc>(code);
    CHECK(errc_from_name(errc_name(errc)) == errc);
  }
  CHECK(errc_from_name("no_such_code") == Errc::internal);
}

TEST_CASE("codec: a request from another client library (keys in any order, bin key) decodes") {
  const std::string body = packed([](auto& pk) {
    pk.pack_map(5);
    str(pk, "key");
    pk.pack_bin(3);
    pk.pack_bin_body("\x00\x01\x02", 3);
    str(pk, "policy");
    str(pk, "p");
    str(pk, "future_field");
    pk.pack_array(0);
    str(pk, "op");
    str(pk, "check");
    str(pk, "id");
    pk.pack_uint64(18446744073709551615ULL);
  });
  RequestDecoder decoder(1024, 65536);
  Request request;
  REQUIRE(decoder.decode(body, request).ok());
  CHECK(request.id == 18446744073709551615ULL);
  CHECK(request.items[0].key == std::string_view("\x00\x01\x02", 3));
  CHECK(request.items[0].cost == 1);
}

TEST_CASE("codec: malformed requests get a precise error and keep their id when it was readable") {
  struct Case {
    const char* name;
    std::string body;
    Errc code;
    const char* message;
  };
  auto map_with = [](auto&& extra, std::uint32_t extra_fields) {
    return packed([&](auto& pk) {
      pk.pack_map(2 + extra_fields);
      str(pk, "id");
      pk.pack_uint64(7);
      str(pk, "op");
      str(pk, "check");
      extra(pk);
    });
  };
  const Case cases[] = {
      {"empty frame", "", Errc::malformed_request, "empty frame"},
      {"not a map", packed([](auto& pk) {
         pk.pack_array(1);
         pk.pack_uint8(1);
       }),
       Errc::malformed_request, "must be a map"},
      {"garbage", "\xc1\xc1\xc1", Errc::malformed_request, "not valid msgpack"},
      {"truncated", packed([](auto& pk) {
         pk.pack_map(3);
         str(pk, "op");
       }),
       Errc::malformed_request, "ends inside"},
      {"trailing bytes", packed([](auto& pk) { pk.pack_map(0); }) + "x", Errc::malformed_request,
       "trailing bytes"},
      {"no op", packed([](auto& pk) {
         pk.pack_map(1);
         str(pk, "id");
         pk.pack_uint8(1);
       }),
       Errc::malformed_request, "'op' is missing"},
      {"unknown op", packed([](auto& pk) {
         pk.pack_map(1);
         str(pk, "op");
         str(pk, "explode");
       }),
       Errc::unknown_op, "unknown op 'explode'"},
      {"future version", packed([](auto& pk) {
         pk.pack_map(2);
         str(pk, "v");
         pk.pack_uint8(99);
         str(pk, "op");
         str(pk, "ping");
       }),
       Errc::unsupported_version, "version 99"},
      {"id is a string", packed([](auto& pk) {
         pk.pack_map(2);
         str(pk, "id");
         str(pk, "7");
         str(pk, "op");
         str(pk, "ping");
       }),
       Errc::malformed_request, "'id' must be an unsigned integer"},
      {"no policy",
       map_with(
           [](auto& pk) {
             str(pk, "key");
             str(pk, "k");
           },
           1),
       Errc::malformed_request, "'policy' is missing"},
      {"no key",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
           },
           1),
       Errc::empty_key, "'key' is missing or empty"},
      {"empty key",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "key");
             str(pk, "");
           },
           2),
       Errc::empty_key, "missing or empty"},
      {"key is a number",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "key");
             pk.pack_uint8(5);
           },
           2),
       Errc::malformed_request, "'key' must be a string"},
      {"cost is a string",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "key");
             str(pk, "k");
             str(pk, "cost");
             str(pk, "1");
           },
           3),
       Errc::malformed_request, "'cost' must be an unsigned integer"},
      {"cost is negative",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "key");
             str(pk, "k");
             str(pk, "cost");
             pk.pack_int8(-1);
           },
           3),
       Errc::malformed_request, "'cost' must be an unsigned integer"},
      {"cost above any limit",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "key");
             str(pk, "k");
             str(pk, "cost");
             pk.pack_uint64(1ULL << 40);
           },
           3),
       Errc::cost_above_limit, "above every possible limit"},
      {"items and policy",
       map_with(
           [](auto& pk) {
             str(pk, "policy");
             str(pk, "p");
             str(pk, "items");
             pk.pack_array(0);
           },
           2),
       Errc::malformed_request, "not both"},
      {"items empty",
       map_with(
           [](auto& pk) {
             str(pk, "items");
             pk.pack_array(0);
           },
           1),
       Errc::malformed_request, "non-empty array"},
      {"too many items",
       map_with(
           [](auto& pk) {
             str(pk, "items");
             pk.pack_array(9);
             for (int i = 0; i < 9; ++i) {
               pk.pack_map(2);
               str(pk, "policy");
               str(pk, "p");
               str(pk, "key");
               str(pk, "k");
             }
           },
           1),
       Errc::too_many_items, "at most 8 items"},
      {"map key not a string", packed([](auto& pk) {
         pk.pack_map(1);
         pk.pack_uint8(1);
         pk.pack_uint8(1);
       }),
       Errc::malformed_request, "keys must be strings"},
      {"too deep", packed([](auto& pk) {
         pk.pack_map(1);
         str(pk, "x");
         for (int i = 0; i < 10; ++i) pk.pack_array(1);
         pk.pack_nil();
       }),
       Errc::malformed_request, "nested too deeply"},
      {"batch not an array", packed([](auto& pk) {
         pk.pack_map(2);
         str(pk, "op");
         str(pk, "batch");
         str(pk, "checks");
         pk.pack_uint8(1);
       }),
       Errc::malformed_request, "'checks' must be an array"},
  };
  RequestDecoder decoder(1024, 65536);
  Request request;
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const Result<Done> result = decode(decoder, c.body, request);
    bool failed = !result.ok();
    Errc code = failed ? result.error().code : Errc::ok;
    std::string message = failed ? result.error().message : "";
    // Check-level problems are reported per check, so that a batch keeps its other checks.
    if (!failed && !request.checks.empty() && request.checks[0].error != Errc::ok) {
      failed = true;
      code = request.checks[0].error;
      message = request.checks[0].error_message;
    }
    CAPTURE(message);
    REQUIRE(failed);
    CHECK(code == c.code);
    CHECK(message.find(c.message) != std::string::npos);
  }
}

TEST_CASE("codec: one bad check in a batch fails alone") {
  const std::string body = packed([](auto& pk) {
    pk.pack_map(2);
    str(pk, "op");
    str(pk, "batch");
    str(pk, "checks");
    pk.pack_array(3);
    pk.pack_map(2);
    str(pk, "policy");
    str(pk, "p");
    str(pk, "key");
    str(pk, "a");
    pk.pack_map(1);
    str(pk, "policy");
    str(pk, "p");
    pk.pack_map(2);
    str(pk, "policy");
    str(pk, "p");
    str(pk, "key");
    str(pk, "c");
  });
  RequestDecoder decoder(1024, 65536);
  Request request;
  REQUIRE(decoder.decode(body, request).ok());
  REQUIRE(request.checks.size() == 3);
  CHECK(request.checks[0].error == Errc::ok);
  CHECK(request.checks[1].error == Errc::empty_key);
  CHECK(request.checks[1].count == 0);
  CHECK(request.checks[2].error == Errc::ok);
  CHECK(request.items[request.checks[2].first].key == "c");
}

TEST_CASE("codec: trailing bytes after a request map keep the map's id in the error") {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_map(2);
  pk.pack_str(2);
  pk.pack_str_body("id", 2);
  pk.pack_uint32(77);
  pk.pack_str(2);
  pk.pack_str_body("op", 2);
  pk.pack_str(4);
  pk.pack_str_body("ping", 4);
  const std::string body = std::string(buffer.data(), buffer.size()) + "x";
  RequestDecoder decoder(10, 65536);
  Request request;
  const Result<Done> result = decoder.decode(body, request);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::malformed_request);
  CHECK(result.error().message == "trailing bytes after the request map");
  CHECK(request.id == 77);
}

TEST_CASE("codec: an array header that claims more elements than any frame holds is malformed") {
  // A map whose "checks" array claims 2^32 - 1 elements in a few bytes.
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_map(2);
  pk.pack_str(2);
  pk.pack_str_body("op", 2);
  pk.pack_str(5);
  pk.pack_str_body("batch", 5);
  pk.pack_str(6);
  pk.pack_str_body("checks", 6);
  pk.pack_array(0xffffffffU);
  RequestDecoder decoder(10, 65536);
  Request request;
  const Result<Done> result =
      decoder.decode(std::string_view(buffer.data(), buffer.size()), request);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::malformed_request);
  CHECK(result.error().message == "an array claims more elements than the frame holds");
}

TEST_CASE("codec: a batch above the configured bound is refused as too many items") {
  const CheckRequest item{"p", "k", 1, "", ""};
  std::vector<CheckRequest> checks(11, item);
  std::string framed;
  encode_batch_request(framed, 1, checks, false);
  RequestDecoder decoder(10, 65536);
  Request request;
  const Result<Done> result = decoder.decode(body_of(framed), request);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == Errc::too_many_items);
}

TEST_CASE("codec: random bytes and random mutations of valid requests never crash the decoder") {
  std::mt19937_64 rng(42);
  RequestDecoder decoder(64, 4096);
  Request request;
  std::string valid;
  const CheckRequest items[] = {{"user", "u1", 1, "pro", "/x"}, {"tenant", "t1", 2, "", ""}};
  encode_check_request(valid, 1, items, true);
  encode_batch_request(valid, 2, items, true);
  const std::string seed(body_of(valid));
  int accepted = 0;
  for (int trial = 0; trial < 100'000; ++trial) {
    std::string body;
    if (trial % 2 == 0) {
      body.resize(rng() % 64);
      for (char& c : body) c = static_cast<char>(rng());
    } else {
      body = seed.substr(0, rng() % (seed.size() + 1));
      for (int flips = 0; flips < 3 && !body.empty(); ++flips) {
        body[rng() % body.size()] = static_cast<char>(rng());
      }
    }
    accepted += decoder.decode(body, request).ok() ? 1 : 0;
  }
  CHECK(accepted < 100'000);
}
