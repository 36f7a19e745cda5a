#include <doctest/doctest.h>

#include <map>
#include <string>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/limit_adjuster.hpp"
#include "http/decision_answer.hpp"

using namespace drl;
using namespace drl::http;

namespace {

std::map<std::string, std::string> headers_of(const HttpAnswer& answer) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : answer.headers) out[name] = value;
  return out;
}

struct Bench {
  explicit Bench(const char* toml) : store(core::StoreOptions{1000, 4}), engine(store, 0) {
    auto parsed = config::parse_config(toml, "test");
    REQUIRE(parsed.ok());
    policies = parsed->policies;
  }
  const core::CheckOutcome& check(std::string_view policy, std::string_view endpoint = "") {
    const core::CheckItem item{policy, "k", "", endpoint, 1};
    engine.check(*policies, core::WallTime{1'800'000'000'250}, std::span(&item, 1), outcome);
    return outcome;
  }
  core::CounterStore store;
  core::CheckEngine engine;
  std::shared_ptr<const core::PolicySet> policies;
  core::CheckOutcome outcome;
};

}  // namespace

TEST_CASE("http answer: allowed is 200 with RateLimit-Policy and RateLimit for the limit") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\nalgorithm = \"fixed\"\n");
  const HttpAnswer answer = answer_decision(bench.check("api"), MappedCheck{}, true);
  CHECK(answer.status == 200);
  const auto h = headers_of(answer);
  CHECK(h.at("RateLimit-Policy") == "\"api\";q=10;w=60");
  // 59.75 s left in the window: t rounds up.
  CHECK(h.at("RateLimit") == "\"api\";r=9;t=60");
  CHECK(h.count("Retry-After") == 0);
  CHECK(answer.content_type == "application/json");
  CHECK(answer.body.find("\"allowed\":true") != std::string::npos);
}

TEST_CASE("http answer: denied is 429 with Retry-After rounded up and a problem+json body") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 1\nwindow = \"1s\"\nalgorithm = \"fixed\"\n");
  bench.check("api");
  const HttpAnswer answer = answer_decision(bench.check("api"), MappedCheck{}, true);
  CHECK(answer.status == 429);
  const auto h = headers_of(answer);
  CHECK(h.at("Retry-After") == "1");  // 750 ms: never early
  CHECK(h.at("RateLimit") == "\"api\";r=0;t=1");
  CHECK(answer.content_type == "application/problem+json");
  CHECK(answer.body.find("\"title\":\"Too Many Requests\"") != std::string::npos);
  CHECK(answer.body.find("\"status\":429") != std::string::npos);
  CHECK(answer.body.find("\"retry_after_ms\":750") != std::string::npos);
}

TEST_CASE(
    "http answer: with deny_status 403, a denial is 403 and keeps Retry-After for the proxy") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 1\nwindow = \"1s\"\n");
  bench.check("api");
  MappedCheck check;
  check.deny_status = 403;
  const HttpAnswer answer = answer_decision(bench.check("api"), check, true);
  CHECK(answer.status == 403);
  CHECK(headers_of(answer).count("Retry-After") == 1);
  CHECK(answer.content_type == "application/json");
}

TEST_CASE(
    "http answer: several limits are items of one list; windows under a second are decimals") {
  Bench bench(R"(
[[policy]]
name = "api"
limits = [{ limit = 5, window = "250ms" }, { limit = 100, window = "1h" }]
[policy.endpoints."POST /login"]
limit = 3
window = "1m"
)");
  const HttpAnswer answer = answer_decision(bench.check("api", "POST /login"), MappedCheck{}, true);
  const auto h = headers_of(answer);
  CHECK(h.at("RateLimit-Policy") ==
        "\"api/250ms\";q=5;w=0.25, \"api/1h\";q=100;w=3600, \"api:POST /login\";q=3;w=60");
}

TEST_CASE("http answer: names are sf-strings: quotes and backslashes escaped, no control bytes") {
  Bench bench(
      "[[policy]]\nname = \"api\"\nlimit = 5\nwindow = \"1s\"\n"
      "[policy.endpoints.\"GET /a\\\"b\\\\c\"]\nlimit = 1\n");
  const core::CheckOutcome& outcome = bench.check("api", "GET /a\"b\\c");
  REQUIRE(outcome.limit_count == 2);
  CHECK(limit_item_name(outcome, 1) == "\"api:GET /a\\\"b\\\\c\"");
}

TEST_CASE(
    "http answer: an adjusted limit says so: Drl-Adjusted with the configured limit, and the "
    "JSON body's configured_limit and adjusted") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n");
  core::OverrideRecord halve;
  halve.scope.policy = "api";
  halve.kind = core::OverrideKind::factor;
  halve.value = 500;
  halve.expires_wall_ms = 1'800'000'060'000;
  halve.retain_until_wall_ms = halve.expires_wall_ms;
  halve.reason = "drill";
  halve.stamp = core::HlcStamp{1'800'000'000'000, 0, "n1"};
  bench.policies = core::adjust_policies(*bench.policies, {halve}, {});
  const HttpAnswer answer =
      answer_decision(bench.check("api"), MappedCheck{}, true, bench.policies.get());
  const auto h = headers_of(answer);
  CHECK(h.at("RateLimit-Policy") == "\"api\";q=5;w=60");
  REQUIRE(h.count("Drl-Adjusted") == 1);
  CHECK(h.at("Drl-Adjusted").find("drill") != std::string::npos);
  CHECK(h.at("Drl-Adjusted").find(";configured=10") != std::string::npos);
  CHECK(answer.body.find("\"configured_limit\":10") != std::string::npos);
  CHECK(answer.body.find("\"adjusted\":\"override factor 0.5") != std::string::npos);

  // Without the policy set, or unadjusted, neither appears.
  CHECK(
      headers_of(answer_decision(bench.check("api"), MappedCheck{}, true)).count("Drl-Adjusted") ==
      0);
}

TEST_CASE("http answer: errors are problem+json with the status and the reason") {
  const HttpAnswer answer = answer_error(404, "unknown policy 'x'");
  CHECK(answer.status == 404);
  CHECK(answer.content_type == "application/problem+json");
  CHECK(answer.body ==
        "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,\"detail\":\"unknown "
        "policy 'x'\"}");
}

TEST_CASE("http answer: whole seconds round up, so a client waiting that long is never early") {
  CHECK(whole_seconds_up(0) == 0);
  CHECK(whole_seconds_up(1) == 1);
  CHECK(whole_seconds_up(1000) == 1);
  CHECK(whole_seconds_up(1001) == 2);
}

TEST_CASE(
    "http answer: a blocked key's 429 says it is blocked, and a reason's non-ASCII character "
    "is one '?' in Drl-Adjusted and kept in the body") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n");
  core::OverrideRecord block;
  block.scope = core::OverrideScope{"api", "", "", 0, "k"};
  block.kind = core::OverrideKind::block;
  block.expires_wall_ms = 1'800'000'060'000;
  block.retain_until_wall_ms = block.expires_wall_ms;
  block.reason = "café";
  block.stamp = core::HlcStamp{1'800'000'000'000, 0, "n1"};
  bench.policies = core::adjust_policies(*bench.policies, {block}, {});
  const HttpAnswer answer =
      answer_decision(bench.check("api"), MappedCheck{}, true, bench.policies.get());
  CHECK(answer.status == 429);
  CHECK(answer.body.find("\"detail\":\"key blocked by an override; retry in 60 s (1m)\"") !=
        std::string::npos);
  const auto h = headers_of(answer);
  CHECK(h.at("Retry-After") == "60");
  CHECK(h.at("Drl-Adjusted").find("caf?") != std::string::npos);
  CHECK(h.at("Drl-Adjusted").find("caf??") == std::string::npos);
  CHECK(answer.body.find("café") != std::string::npos);
}
