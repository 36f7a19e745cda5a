// The client protocol's dynamic-limits paths, both directions: ops override_set,
// override_list, override_clear and report; the answers of each; and the configured_limit /
// adjusted fields of a decision whose limit is adjusted.
#include <doctest/doctest.h>

#include <msgpack.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/limit_adjuster.hpp"
#include "core/override_table.hpp"
#include "wire/request_decoder.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"
#include "wire/response_encoder.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

constexpr core::WallTime kNow{1'800'000'000'000};

std::string_view body_of(const std::string& framed) {
  return std::string_view(framed).substr(4);
}

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

// A request map {v: 1, id: 7, op: OP, ...fields}; `fields` packs `count` more entries.
template <class Fn>
std::string request(std::string_view op, std::uint32_t count, Fn&& fields) {
  return packed([&](auto& pk) {
    pk.pack_map(3 + count);
    str(pk, "v");
    pk.pack(1);
    str(pk, "id");
    pk.pack(7);
    str(pk, "op");
    str(pk, op);
    fields(pk);
  });
}

// Decodes `body` and expects it to fail with `code` and a message containing `text`.
void expect_error(const std::string& body, Errc code, std::string_view text) {
  RequestDecoder decoder(16, 65536);
  Request decoded;
  const Result<Done> result = decoder.decode(body, decoded);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == code);
  CHECK(result.error().message.find(text) != std::string::npos);
  CHECK(decoded.id == 7);
}

core::OverrideRecord record(std::string policy, core::OverrideKind kind, std::uint64_t value) {
  core::OverrideRecord out;
  out.scope.policy = std::move(policy);
  out.scope.tier = "free";
  out.scope.window_ms = 60'000;
  out.kind = kind;
  out.value = value;
  out.set_wall_ms = kNow.unix_ms - 1000;
  out.expires_wall_ms = kNow.unix_ms + 90'000;
  out.retain_until_wall_ms = out.expires_wall_ms;
  out.reason = "incident 42";
  out.stamp = core::HlcStamp{kNow.unix_ms - 1000, 3, "node1"};
  return out;
}

}  // namespace

TEST_CASE("override codec: override_set round-trips a limit with its whole scope, ttl and reason") {
  OverrideSpec spec;
  spec.scope = {"api", "free", "POST /login", 60'000, ""};
  spec.limit = 50;
  spec.ttl_ms = 900'000;
  spec.reason = "incident 42";
  std::string framed;
  encode_override_set_request(framed, 11, spec);
  RequestDecoder decoder(16, 65536);
  Request decoded;
  REQUIRE(decoder.decode(body_of(framed), decoded).ok());
  CHECK(decoded.id == 11);
  CHECK(decoded.op == Op::override_set);
  const OverrideRequest& o = decoded.override_request;
  CHECK(o.scope == core::OverrideScope{"api", "free", "POST /login", 60'000});
  CHECK(o.kind == core::OverrideKind::limit);
  CHECK(o.value == 50);
  CHECK(o.ttl_ms == 900'000);
  CHECK(o.reason == "incident 42");
}

TEST_CASE("override codec: override_set names a window of up to 366 days, whole seconds past 31") {
  constexpr std::uint64_t kDayMs = 86'400'000;
  for (const std::uint64_t window_ms : {31 * kDayMs - 1, 365 * kDayMs, 366 * kDayMs}) {
    CAPTURE(window_ms);
    OverrideSpec spec;
    spec.scope = {"api", "", "", window_ms, ""};
    spec.limit = 5;
    spec.ttl_ms = 1000;
    std::string framed;
    encode_override_set_request(framed, 13, spec);
    RequestDecoder decoder(16, 65536);
    Request decoded;
    REQUIRE(decoder.decode(body_of(framed), decoded).ok());
    CHECK(decoded.override_request.scope.window_ms == window_ms);
  }
  for (const std::uint64_t window_ms : {31 * kDayMs + 1, 366 * kDayMs + 1000}) {
    CAPTURE(window_ms);
    OverrideSpec spec;
    spec.scope = {"api", "", "", window_ms, ""};
    spec.limit = 5;
    spec.ttl_ms = 1000;
    std::string framed;
    encode_override_set_request(framed, 7, spec);
    expect_error(std::string(body_of(framed)), Errc::invalid_argument, "field 'window_ms'");
  }
}

TEST_CASE("override codec: override_set with a factor and only a policy leaves the scope open") {
  OverrideSpec spec;
  spec.scope.policy = "api";
  spec.factor_permille = 500;
  spec.ttl_ms = 1000;
  std::string framed;
  encode_override_set_request(framed, 12, spec);
  RequestDecoder decoder(16, 65536);
  Request decoded;
  REQUIRE(decoder.decode(body_of(framed), decoded).ok());
  const OverrideRequest& o = decoded.override_request;
  CHECK(o.scope == core::OverrideScope{"api", "", "", 0});
  CHECK(o.kind == core::OverrideKind::factor);
  CHECK(o.value == 500);
  CHECK(o.reason.empty());
}

TEST_CASE(
    "override codec: a malformed override_set gets malformed_request, a bad value "
    "invalid_argument") {
  const auto set_with = [](auto&& extra, std::uint32_t count) {
    return request("override_set", count, extra);
  };
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   2),
               Errc::malformed_request, "'policy' is missing");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "tier");
                     str(pk, "free");
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::malformed_request, "'policy' is missing");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "factor_permille");
                     pk.pack(500);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   4),
               Errc::malformed_request, "one of 'limit', 'factor_permille' and 'block'");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   2),
               Errc::malformed_request, "'limit', 'factor_permille' or 'block' is missing");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "limit");
                     pk.pack(5);
                   },
                   2),
               Errc::malformed_request, "'ttl_ms' is missing");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "limit");
                     pk.pack(-5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::malformed_request, "'limit' must be an unsigned integer");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "limit");
                     pk.pack(0);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::invalid_argument, "'limit' must be at least 1");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "limit");
                     pk.pack(std::uint64_t{1} << 40);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::invalid_argument, "above the largest limit");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "factor_permille");
                     pk.pack(500);
                     str(pk, "ttl_ms");
                     pk.pack(0);
                   },
                   3),
               Errc::invalid_argument, "'ttl_ms' must be at least 1");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, std::string(65, 'p'));
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::invalid_argument, "'policy' is longer than 64 bytes");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     str(pk, "api");
                     str(pk, "window_ms");
                     pk.pack(std::uint64_t{1} << 62);
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   4),
               Errc::invalid_argument, "above the longest window");
  expect_error(set_with(
                   [](auto& pk) {
                     str(pk, "policy");
                     pk.pack(3);
                     str(pk, "limit");
                     pk.pack(5);
                     str(pk, "ttl_ms");
                     pk.pack(1000);
                   },
                   3),
               Errc::malformed_request, "'policy' must be a string");
}

TEST_CASE("override codec: override_clear takes a scope or all, exactly one of them") {
  RequestDecoder decoder(16, 65536);
  Request decoded;
  std::string scoped;
  encode_override_clear_request(scoped, 3, OverrideScopeSpec{"api", "free", "", 1000, ""}, false);
  REQUIRE(decoder.decode(body_of(scoped), decoded).ok());
  CHECK(decoded.op == Op::override_clear);
  CHECK_FALSE(decoded.override_request.all);
  CHECK(decoded.override_request.scope == core::OverrideScope{"api", "free", "", 1000});

  std::string all;
  encode_override_clear_request(all, 4, OverrideScopeSpec{}, true);
  REQUIRE(decoder.decode(body_of(all), decoded).ok());
  CHECK(decoded.op == Op::override_clear);
  CHECK(decoded.override_request.all);
  CHECK(decoded.override_request.scope.policy.empty());

  expect_error(request("override_clear", 0, [](auto&) {}), Errc::malformed_request,
               "'policy' is missing (or 'all': true)");
  expect_error(request("override_clear", 2,
                       [](auto& pk) {
                         str(pk, "all");
                         pk.pack(true);
                         str(pk, "policy");
                         str(pk, "api");
                       }),
               Errc::malformed_request, "either a scope or all");
  expect_error(request("override_clear", 1,
                       [](auto& pk) {
                         str(pk, "all");
                         pk.pack(1);
                       }),
               Errc::malformed_request, "'all' must be a boolean");
}

TEST_CASE("override codec: override_list has no fields and decodes as such") {
  std::string framed;
  encode_op_request(framed, 5, "override_list");
  RequestDecoder decoder(16, 65536);
  Request decoded;
  REQUIRE(decoder.decode(body_of(framed), decoded).ok());
  CHECK(decoded.op == Op::override_list);
  CHECK(decoded.id == 5);
}

TEST_CASE(
    "override codec: report carries a signal name and a number; bad names and values are "
    "refused") {
  std::string framed;
  encode_report_request(framed, 6, "queue_depth", 123.5);
  RequestDecoder decoder(16, 65536);
  Request decoded;
  REQUIRE(decoder.decode(body_of(framed), decoded).ok());
  CHECK(decoded.op == Op::report);
  CHECK(decoded.report.name == "queue_depth");
  CHECK(decoded.report.value == 123.5);

  // Integers are numbers too (a client library may send 3 rather than 3.0).
  const std::string integer = request("report", 2, [](auto& pk) {
    str(pk, "signal");
    str(pk, "p99");
    str(pk, "value");
    pk.pack(-3);
  });
  REQUIRE(decoder.decode(integer, decoded).ok());
  CHECK(decoded.report.value == -3.0);

  const auto report_of = [](std::string_view name, auto value) {
    return request("report", 2, [&](auto& pk) {
      str(pk, "signal");
      str(pk, name);
      str(pk, "value");
      pk.pack(value);
    });
  };
  expect_error(report_of("q", std::numeric_limits<double>::quiet_NaN()), Errc::invalid_argument,
               "finite");
  expect_error(report_of("q", std::numeric_limits<double>::infinity()), Errc::invalid_argument,
               "finite");
  expect_error(report_of("", 1.0), Errc::invalid_argument, "1 to 64 bytes");
  expect_error(report_of(std::string(65, 'q'), 1.0), Errc::invalid_argument, "1 to 64 bytes");
  expect_error(report_of("q\n{evil=\"1\"}", 1.0), Errc::invalid_argument, "letters, digits");
  expect_error(report_of("q", std::string("high")), Errc::malformed_request, "must be a number");
  expect_error(request("report", 1,
                       [](auto& pk) {
                         str(pk, "signal");
                         str(pk, "q");
                       }),
               Errc::malformed_request, "'value' is missing");
}

TEST_CASE(
    "override codec: the stored record, the list, the cleared count and report's answer "
    "round-trip") {
  const core::OverrideRecord limit = record("api", core::OverrideKind::limit, 50);
  const core::OverrideRecord factor = record("search", core::OverrideKind::factor, 500);
  std::string framed;
  ResponseEncoder encoder(framed);
  encoder.override_stored(1, limit, kNow);
  const core::OverrideRecord both[] = {limit, factor};
  encoder.override_list(2, both, kNow);
  encoder.overrides_cleared(3, 2);
  encoder.reported(4);

  std::string_view rest = framed;
  const auto next = [&rest]() {
    const std::uint32_t length =
        (static_cast<std::uint8_t>(rest[0]) << 24) | (static_cast<std::uint8_t>(rest[1]) << 16) |
        (static_cast<std::uint8_t>(rest[2]) << 8) | static_cast<std::uint8_t>(rest[3]);
    const std::string_view body = rest.substr(4, length);
    rest.remove_prefix(4 + length);
    const Result<Response> response = decode_response(body);
    REQUIRE(response.ok());
    return response.value();
  };

  const Response stored = next();
  CHECK(stored.id == 1);
  REQUIRE(stored.override_record.has_value());
  const OverrideInfo& info = *stored.override_record;
  CHECK(info.scope.policy == "api");
  CHECK(info.scope.tier == "free");
  CHECK(info.scope.endpoint.empty());
  CHECK(info.scope.window_ms == 60'000);
  CHECK(info.kind == "limit");
  CHECK(info.value == 50);
  CHECK(info.expires_wall_ms == kNow.unix_ms + 90'000);
  CHECK(info.remaining_ms == 90'000);
  CHECK(info.reason == "incident 42");
  CHECK(info.set_by == "node1");
  CHECK(info.set_wall_ms == kNow.unix_ms - 1000);
  CHECK(info.stamp_wall_ms == kNow.unix_ms - 1000);
  CHECK(info.stamp_logical == 3);

  const Response listed = next();
  CHECK(listed.id == 2);
  REQUIRE(listed.overrides.size() == 2);
  CHECK(listed.overrides[1].scope.policy == "search");
  CHECK(listed.overrides[1].kind == "factor");
  CHECK(listed.overrides[1].value == 500);
  CHECK(listed.overrides_json.find("\"set_by\":\"node1\"") != std::string::npos);

  const Response cleared = next();
  CHECK(cleared.id == 3);
  REQUIRE(cleared.cleared.has_value());
  CHECK(*cleared.cleared == 2);

  const Response reported = next();
  CHECK(reported.id == 4);
  CHECK(reported.reported);
  CHECK(rest.empty());
}

TEST_CASE("override codec: an expired record answers remaining_ms 0, never a negative number") {
  core::OverrideRecord old = record("api", core::OverrideKind::limit, 5);
  old.expires_wall_ms = kNow.unix_ms - 5;
  std::string framed;
  ResponseEncoder(framed).override_stored(1, old, kNow);
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  CHECK(response->override_record->remaining_ms == 0);
}

TEST_CASE("override codec: a decision says which limit is in force and why, only when adjusted") {
  auto parsed = config::parse_config(R"(
    [[policy]]
    name = "api"
    limits = [{ limit = 100, window = "1m" }, { limit = 1000, window = "1h" }]
  )",
                                     "test");
  REQUIRE(parsed.ok());
  core::OverrideRecord halve = record("api", core::OverrideKind::limit, 40);
  halve.scope = core::OverrideScope{"api", "", "", 60'000};
  const std::shared_ptr<const core::PolicySet> adjusted =
      core::adjust_policies(*parsed->policies, {halve}, {});
  core::CounterStore store(core::StoreOptions{100, 1});
  core::CheckEngine engine(store, 0);
  core::CheckOutcome outcome;
  const core::CheckItem item{"api", "k", "", "", 1};
  engine.check(*adjusted, kNow, std::span(&item, 1), outcome);
  REQUIRE(outcome.allowed);

  std::string framed;
  ResponseEncoder(framed).decision(9, outcome, true, adjusted.get());
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  const Decision& decision = response->decision;
  CHECK(decision.limit == 40);
  CHECK(decision.configured_limit == 100);
  CHECK(decision.adjusted.find("override limit 40") != std::string::npos);
  CHECK(decision.adjusted.find("incident 42") != std::string::npos);
  REQUIRE(decision.limits.size() == 2);
  CHECK(decision.limits[0].configured_limit == 100);
  CHECK(decision.limits[0].adjusted == decision.adjusted);
  // The hour's limit is not in the override's scope: no note.
  CHECK(decision.limits[1].limit == 1000);
  CHECK(decision.limits[1].configured_limit == 0);
  CHECK(decision.limits[1].adjusted.empty());

  // The same answer without the policy set (an encoder that cannot know why) leaves them out,
  // and an unadjusted set has none to give.
  std::string plain;
  ResponseEncoder(plain).decision(9, outcome, false, nullptr);
  CHECK(decode_response(body_of(plain))->decision.adjusted.empty());
  engine.check(*parsed->policies, kNow, std::span(&item, 1), outcome);
  std::string configured;
  ResponseEncoder(configured).batch_decision(outcome, true, parsed->policies.get());
  CHECK(std::string_view(configured).find("adjusted") == std::string_view::npos);
}

TEST_CASE("override codec: a key override with block and a key_reset travel with their key") {
  RequestDecoder decoder(16, 65536);
  Request decoded;
  OverrideSpec spec;
  spec.scope.policy = "api";
  spec.scope.key = "bob";
  spec.block = true;
  spec.ttl_ms = 60'000;
  spec.reason = "abuse";
  std::string framed;
  encode_override_set_request(framed, 5, spec);
  REQUIRE(decoder.decode(body_of(framed), decoded).ok());
  CHECK(decoded.op == Op::override_set);
  CHECK(decoded.override_request.kind == core::OverrideKind::block);
  CHECK(decoded.override_request.scope == core::OverrideScope{"api", "", "", 0, "bob"});

  std::string reset;
  encode_key_reset_request(reset, 6, OverrideScopeSpec{"api", "free", "POST /login", 0, "alice"},
                           "ticket 7");
  REQUIRE(decoder.decode(body_of(reset), decoded).ok());
  CHECK(decoded.op == Op::key_reset);
  CHECK(decoded.override_request.kind == core::OverrideKind::reset);
  CHECK(decoded.override_request.scope ==
        core::OverrideScope{"api", "free", "POST /login", 0, "alice", true});
  CHECK(decoded.override_request.reason == "ticket 7");

  // A block without a key, a key_reset without a key or with a window: refused.
  expect_error(request("override_set", 3,
                       [](auto& pk) {
                         str(pk, "policy");
                         str(pk, "api");
                         str(pk, "block");
                         pk.pack(true);
                         str(pk, "ttl_ms");
                         pk.pack(1000);
                       }),
               Errc::invalid_argument, "field 'key' is missing");
  expect_error(request("key_reset", 1,
                       [](auto& pk) {
                         str(pk, "policy");
                         str(pk, "api");
                       }),
               Errc::empty_key, "field 'key' is missing");
  expect_error(request("key_reset", 3,
                       [](auto& pk) {
                         str(pk, "policy");
                         str(pk, "api");
                         str(pk, "key");
                         str(pk, "k");
                         str(pk, "window_ms");
                         pk.pack(1000);
                       }),
               Errc::invalid_argument, "'window_ms' does not apply");
  expect_error(request("key_reset", 2,
                       [](auto& pk) {
                         str(pk, "policy");
                         str(pk, "api");
                         str(pk, "key");
                         str(pk, std::string(257, 'k'));
                       }),
               Errc::key_too_long, "at most 256");
}

TEST_CASE("override codec: a key reset's answer says what it forgot, per counter") {
  core::OverrideRecord reset = record("api", core::OverrideKind::reset, 0);
  reset.scope = core::OverrideScope{"api", "", "", 0, "alice", true};
  reset.marks = {{1, 60'000, 5, 40, 3}, {2, 1000, 300, 2, 0}};
  const std::vector<core::ResetTarget> targets{{reset.marks[0], "", 100, 25},
                                               {reset.marks[1], "POST /login", 5, 2}};
  std::string framed;
  ResponseEncoder(framed).key_reset_stored(3, core::KeyReset{{reset}, targets}, kNow);
  const Result<Response> response = decode_response(body_of(framed));
  REQUIRE(response.ok());
  REQUIRE(response->override_record);
  CHECK(response->override_record->kind == "reset");
  CHECK(response->override_record->scope.key == "alice");
  const std::vector<ForgottenCount>& forgotten = response->override_record->forgotten;
  REQUIRE(forgotten.size() == 2);
  CHECK(forgotten[0].endpoint.empty());
  CHECK(forgotten[0].window_ms == 60'000);
  CHECK(forgotten[0].limit == 100);
  CHECK(forgotten[0].count == 25);  // what checks saw, not the mark's raw total
  CHECK(forgotten[1].endpoint == "POST /login");
  CHECK(forgotten[1].count == 2);
}
