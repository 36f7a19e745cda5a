// DynamicLimits: the policy set in force on a node, moved by overrides, expiry, reloads and
// load signals, with a new epoch each time; its bounds (reported signal names) counted.
#include <doctest/doctest.h>

#include "config/config.hpp"
#include "daemon/dynamic_limits.hpp"

using namespace drl;
using namespace drl::daemon;

namespace {

constexpr core::WallTime kNoon{1'800'000'000'000};

std::shared_ptr<const core::PolicySet> policies(const char* toml) {
  auto parsed = config::parse_config(toml, "test");
  REQUIRE_MESSAGE(parsed.ok(), parsed.error().message);
  return parsed->policies;
}

constexpr const char* kConfig = R"(
[[policy]]
name = "api"
limit = 100
window = "1m"

[[policy]]
name = "load"
limit = 1000
window = "1s"
[policy.adaptive]
signal = "reported:queue"
target = 10
floor_at = 110
floor = 0.5
smoothing = "0s"
recover = "1s"
signal_stale = "1s"
)";

std::uint64_t limit_of(const DynamicLimits& dynamic, std::string_view policy) {
  return dynamic.policies()->find(policy)->defaults.rules.at(0).limit;
}

wire::OverrideRequest limit_override(std::string policy, std::uint64_t limit, std::int64_t ttl_ms) {
  wire::OverrideRequest request;
  request.scope.policy = std::move(policy);
  request.kind = core::OverrideKind::limit;
  request.value = limit;
  request.ttl_ms = ttl_ms;
  return request;
}

core::MonoTime at_ms(std::int64_t ms) {
  return core::MonoTime{ms * 1'000'000};
}

}  // namespace

TEST_CASE(
    "dynamic limits: an override is in force at once with a new epoch, and ends at its TTL "
    "on the next tick") {
  DynamicLimits dynamic("n1", policies(kConfig));
  const std::uint64_t epoch = dynamic.epoch();
  REQUIRE(dynamic.set(limit_override("api", 7, 1000), kNoon).ok());
  CHECK(dynamic.epoch() > epoch);
  CHECK(limit_of(dynamic, "api") == 7);
  CHECK(dynamic.active(kNoon).size() == 1);

  const std::uint64_t before_expiry = dynamic.epoch();
  dynamic.tick(at_ms(500), core::WallTime{kNoon.unix_ms + 500}, {});
  CHECK(dynamic.epoch() == before_expiry);  // nothing moved: no new set
  dynamic.tick(at_ms(1100), core::WallTime{kNoon.unix_ms + 1100}, {});
  CHECK(dynamic.epoch() > before_expiry);
  CHECK(limit_of(dynamic, "api") == 100);
  CHECK(dynamic.table().stats().expired == 1);
}

TEST_CASE("dynamic limits: an override that cannot apply is refused with the reason and counted") {
  DynamicLimits dynamic("n1", policies(kConfig));
  const auto refused = dynamic.set(limit_override("nope", 7, 1000), kNoon);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::unknown_policy);  // as a check naming it is told
  CHECK(refused.error().message.find("unknown policy 'nope' (policies: api, load)") == 0);
  CHECK(dynamic.stats().overrides_refused == 1);
  CHECK(dynamic.active(kNoon).empty());
}

TEST_CASE(
    "dynamic limits: clear ends one scope or all, and a reload keeps the overrides on the "
    "new configuration") {
  DynamicLimits dynamic("n1", policies(kConfig));
  REQUIRE(dynamic.set(limit_override("api", 7, 60'000), kNoon).ok());
  dynamic.on_config_applied(policies(R"(
[[policy]]
name = "api"
limit = 200
window = "1m"
)"),
                            kNoon);
  CHECK(limit_of(dynamic, "api") == 7);
  CHECK(dynamic.policies()->find("api")->defaults.rules.at(0).configured_limit == 200);

  wire::OverrideRequest clear;
  clear.scope.policy = "api";
  CHECK(dynamic.clear(clear, kNoon).value() == 1);
  CHECK(limit_of(dynamic, "api") == 200);
  CHECK(dynamic.clear(clear, kNoon).value() == 0);
  // A policy the configuration does not have, with no override of it: a typo, said so.
  wire::OverrideRequest typo;
  typo.scope.policy = "apii";
  const auto refused = dynamic.clear(typo, kNoon);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::unknown_policy);
  // So is an endpoint (or tier, or window) the policy does not have: a clear that names it
  // would be a silent no-op.
  wire::OverrideRequest wrong_endpoint;
  wrong_endpoint.scope.policy = "api";
  wrong_endpoint.scope.endpoint = "GET /v1/users/1";
  const auto wrong = dynamic.clear(wrong_endpoint, kNoon);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == Errc::invalid_argument);
  clear.all = true;
  CHECK(dynamic.clear(clear, kNoon).value() == 0);
  CHECK(dynamic.stats().overrides_cleared == 1);
}

TEST_CASE(
    "dynamic limits: a reported signal above its target lowers the adaptive limit; a stale "
    "one counts as no load and the limit recovers") {
  DynamicLimits dynamic("n1", policies(kConfig));
  REQUIRE(dynamic.report("queue", 500, at_ms(0)).ok());
  dynamic.tick(at_ms(100), kNoon, {});
  CHECK(limit_of(dynamic, "load") == 500);  // the floor, 0.5
  REQUIRE(dynamic.adaptive().size() == 1);
  CHECK(dynamic.adaptive()[0].factor_permille == 500);

  // No report for longer than signal_stale (1 s): no load; the factor climbs back within
  // recover (1 s from the floor).
  for (std::int64_t ms = 200; ms <= 3500; ms += 100) {
    dynamic.tick(at_ms(ms), core::WallTime{kNoon.unix_ms + ms}, {});
  }
  CHECK(limit_of(dynamic, "load") == 1000);
  CHECK(dynamic.adaptive()[0].factor_permille == 1000);
}

TEST_CASE(
    "dynamic limits: at most 64 reported signal names; a new one beyond is refused and "
    "counted, a known one still updates") {
  DynamicLimits dynamic("n1", policies(kConfig));
  for (std::size_t i = 0; i < reported_signals_max; ++i) {
    REQUIRE(dynamic.report("s" + std::to_string(i), 1, at_ms(0)).ok());
  }
  const auto refused = dynamic.report("one-too-many", 1, at_ms(0));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(dynamic.report("s0", 2, at_ms(1)).ok());
  CHECK(dynamic.stats().reports_refused == 1);
  CHECK(dynamic.signals(at_ms(1)).size() == reported_signals_max);
}
