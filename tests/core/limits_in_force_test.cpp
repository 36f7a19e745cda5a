// LimitsInForce: the set in force derived from the configured policies, the override table and
// the adaptive factors, again only when one of them moved; what changed told to the log sink.
#include "core/limits_in_force.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/counter_store.hpp"

using namespace drl;
using namespace drl::core;

namespace {

constexpr WallTime kNoon{1'800'000'000'000};

std::shared_ptr<const PolicySet> policies(const char* toml) {
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

std::uint64_t limit_of(const LimitsInForce& limits, std::string_view policy) {
  return limits.policies()->find(policy)->defaults.rules.at(0).limit;
}

struct Logged {
  std::vector<std::pair<std::string, bool>> lines;  // line, from_peer
  LimitsLog sink() {
    return [this](const std::string& line, bool from_peer) { lines.emplace_back(line, from_peer); };
  }
};

OverrideScope api_scope() {
  OverrideScope scope;
  scope.policy = "api";
  return scope;
}

}  // namespace

TEST_CASE(
    "limits in force: nothing moved, nothing derived; a peer's record merged is in force "
    "at the next refresh, logged as a peer's") {
  Logged logged;
  LimitsInForce limits("n1", policies(kConfig), {}, logged.sink());
  const auto configured = limits.policies();
  CHECK_FALSE(limits.refresh(kNoon));
  CHECK(limits.policies() == configured);  // the very same set: no allocation

  OverrideTable peer("n2");
  std::string error;
  peer.set(api_scope(), OverrideKind::limit, 7, 60'000, "incident", kNoon, error);
  REQUIRE(error.empty());
  REQUIRE(limits.table().merge(peer.records(), kNoon) == 1);
  CHECK(limits.refresh(kNoon));
  CHECK(limit_of(limits, "api") == 7);
  CHECK(limits.overrides_in_force().size() == 1);
  REQUIRE(logged.lines.size() == 1);
  CHECK(logged.lines[0].first.find("override received: policy 'api': limit 7 for 1m, set by n2") ==
        0);
  CHECK(logged.lines[0].second);
  CHECK_FALSE(limits.refresh(kNoon));
}

TEST_CASE("limits in force: a local write is logged as local, and its expiry ends it") {
  Logged logged;
  LimitsInForce limits("n1", policies(kConfig), {}, logged.sink());
  std::string error;
  limits.set_override(api_scope(), OverrideKind::limit, 7, 1000, "", kNoon, error);
  REQUIRE(logged.lines.size() == 1);
  CHECK(logged.lines[0].first == "override in force: policy 'api': limit 7 for 1.000s, set by n1");
  CHECK_FALSE(logged.lines[0].second);
  CHECK(limits.refresh(WallTime{kNoon.unix_ms + 1500}));
  CHECK(limit_of(limits, "api") == 100);
  CHECK(logged.lines.back().first ==
        "override ended (expired): policy 'api', was limit 7 set by n1");

  // A clear says who cleared it: the audit trail of a lifted block.
  const WallTime later{kNoon.unix_ms + 2000};
  limits.set_override(api_scope(), OverrideKind::limit, 8, 60'000, "", later, error);
  OverrideTable peer("n2");
  peer.merge(limits.table().records(), later);
  REQUIRE(peer.clear(api_scope(), later));
  limits.table().merge(peer.records(), later);
  CHECK(limits.refresh(later));
  CHECK(logged.lines.back().first ==
        "override ended (cleared): policy 'api', was limit 8 set by n1, cleared by n2");
}

TEST_CASE(
    "limits in force: a factor that moves derives the set again; a reload with the same law "
    "keeps the controller, a changed law starts it again") {
  LimitsInForce limits("n1", policies(kConfig));
  limits.sample(MonoTime{100'000'000}, [](const AdaptiveLaw&) { return 500.0; });
  CHECK(limits.refresh(kNoon));
  CHECK(limit_of(limits, "load") == 500);
  CHECK_FALSE(limits.refresh(kNoon));

  limits.set_configured(policies(kConfig), kNoon);
  CHECK(limits.adaptive().at("load").controller.factor_permille() == 500);
  CHECK(limit_of(limits, "load") == 500);

  std::string changed = kConfig;
  changed.replace(changed.find("target = 10"), 11, "target = 20");
  limits.set_configured(policies(changed.c_str()), kNoon);
  CHECK(limits.adaptive().at("load").controller.factor_permille() == 1000);
  CHECK(limit_of(limits, "load") == 1000);
}

TEST_CASE(
    "limits in force: an override for a policy this node lacks is kept and said not to "
    "apply here") {
  LimitsInForce limits("n1", policies(kConfig));
  OverrideTable peer("n2");
  OverrideScope elsewhere;
  elsewhere.policy = "only-on-n2";
  std::string error;
  peer.set(elsewhere, OverrideKind::limit, 7, 60'000, "", kNoon, error);
  REQUIRE(error.empty());
  limits.table().merge(peer.records(), kNoon);
  CHECK(limits.refresh(kNoon));
  CHECK_FALSE(limits.applies_here(elsewhere));
  CHECK(limits.applies_here(api_scope()));
}

TEST_CASE(
    "limits in force: this node's own record handed back after a restart (state file or peer) "
    "is logged as restored, with its time left to the second") {
  OverrideTable before_restart("n1");
  std::string error;
  before_restart.set(api_scope(), OverrideKind::limit, 7, 1'800'000, "", kNoon, error);
  REQUIRE(error.empty());

  Logged logged;
  LimitsInForce limits("n1", policies(kConfig), {}, logged.sink());
  const WallTime later{kNoon.unix_ms + 7397};
  limits.table().merge(before_restart.records(), later);
  CHECK(limits.refresh(later));
  REQUIRE(logged.lines.size() == 1);
  CHECK(logged.lines[0].first ==
        "override restored (this node's, from before it restarted): policy 'api': limit 7 for "
        "29m53s, set by n1");
}

namespace {

constexpr const char* kEndpoints = R"(
[[policy]]
name = "api"
algorithm = "fixed"
limit = 100
window = "1m"
[policy.tiers.gold]
limit = 1000
[policy.endpoints."POST /login"]
limit = 5
[policy.endpoints."GET /search"]
limit = 50
[policy.endpoints."GET /v1/*"]
limit = 4
)";

struct ResetBench {
  CounterStore store{StoreOptions{10'000, 8}};
  CheckEngine engine{store, 0};
  Logged logged;
  LimitsInForce limits{"n1", policies(kEndpoints), {}, logged.sink()};
  CheckOutcome outcome;

  // Checks `n` times with `tier` and `endpoint`; returns how many were admitted.
  int admit(int n, std::string_view key, std::string_view tier, std::string_view endpoint) {
    int allowed = 0;
    for (int i = 0; i < n; ++i) {
      const CheckItem item{"api", key, tier, endpoint, 1};
      engine.check(*limits.policies(), kNoon, std::span<const CheckItem>(&item, 1), outcome);
      REQUIRE(outcome.error == Errc::ok);
      allowed += outcome.allowed ? 1 : 0;
    }
    return allowed;
  }

  KeyReset reset(std::string key, std::string tier = "", std::string endpoint = "") {
    OverrideScope scope;
    scope.policy = "api";
    scope.key = std::move(key);
    scope.tier = std::move(tier);
    scope.endpoint = std::move(endpoint);
    Errc code = Errc::ok;
    std::string error;
    KeyReset done = limits.reset_key(engine, scope, "ticket 7", kNoon, code, error);
    REQUIRE_MESSAGE(code == Errc::ok, error);
    return done;
  }
};

std::uint64_t counted_at(const KeyReset& reset, std::string_view endpoint) {
  for (const ResetTarget& target : reset.targets) {
    if (target.endpoint == endpoint) return target.counted;
  }
  return 999;
}

}  // namespace

TEST_CASE(
    "limits in force: a key reset with no endpoint forgets the key's counts at every endpoint "
    "it counted in, one record each, and is logged with what each limit had counted") {
  ResetBench bench;
  CHECK(bench.admit(5, "alice", "", "POST /login") == 5);
  CHECK(bench.admit(3, "alice", "gold", "GET /search") == 3);
  CHECK(bench.admit(1, "bob", "", "POST /login") == 1);

  const KeyReset reset = bench.reset("alice");
  // The policy-wide counters, then the endpoints in name order.
  REQUIRE(reset.records.size() == 3);
  CHECK(reset.records[0].scope.endpoint.empty());
  CHECK(counted_at(reset, "") == 8);
  CHECK(counted_at(reset, "POST /login") == 5);
  CHECK(counted_at(reset, "GET /search") == 3);
  REQUIRE_FALSE(bench.logged.lines.empty());
  CHECK(bench.logged.lines.back().first ==
        "key reset: policy 'api', key 'alice': forgot 8 of 100/1m, 3 of 50/1m at endpoint "
        "'GET /search', 5 of 5/1m at endpoint 'POST /login' (ticket 7)");
  CHECK_FALSE(bench.logged.lines.back().second);

  // Unblocked at once, at every endpoint; bob's count is his own.
  CHECK(bench.admit(5, "alice", "", "POST /login") == 5);
  CHECK(bench.admit(5, "bob", "", "POST /login") == 4);
}

TEST_CASE("limits in force: a second reset forgets only what was counted since the first") {
  ResetBench bench;
  CHECK(bench.admit(40, "alice", "", "") == 40);
  CHECK(counted_at(bench.reset("alice"), "") == 40);
  CHECK(bench.admit(7, "alice", "", "") == 7);
  const KeyReset again = bench.reset("alice");
  CHECK(counted_at(again, "") == 7);  // not the raw 47 the mark holds
  CHECK(again.targets.front().mark.current == 47);
  CHECK(bench.admit(101, "alice", "", "") == 100);
}

TEST_CASE("limits in force: a key reset names only a tier and an endpoint the policy has") {
  ResetBench bench;
  OverrideScope scope;
  scope.policy = "api";
  scope.key = "alice";
  Errc code = Errc::ok;
  std::string error;
  scope.tier = "platinum";
  bench.limits.reset_key(bench.engine, scope, "", kNoon, code, error);
  CHECK(code == Errc::invalid_argument);
  CHECK(error == "policy 'api' has no tier 'platinum'");
  scope.tier.clear();
  scope.endpoint = "POST /logn";
  bench.limits.reset_key(bench.engine, scope, "", kNoon, code, error);
  CHECK(code == Errc::invalid_argument);
  CHECK(error.find("has no endpoint 'POST /logn'") != std::string::npos);
  CHECK(bench.limits.table().records().empty());
}

TEST_CASE("limits in force: a key reset at a path under a prefix endpoint names the prefix") {
  ResetBench bench;
  CHECK(bench.admit(5, "alice", "", "GET /v1/items") == 4);
  const KeyReset reset = bench.reset("alice", "", "GET /v1/anything");
  REQUIRE(reset.records.size() == 1);
  CHECK(reset.records[0].scope.endpoint == "GET /v1/*");
  CHECK(counted_at(reset, "GET /v1/*") == 4);
  CHECK(bench.admit(5, "alice", "", "GET /v1/other") == 4);
}

TEST_CASE("limits in force: a reset of a blocked key says it is blocked, not 'of 0'") {
  ResetBench bench;
  CHECK(bench.admit(3, "mallory", "", "") == 3);
  OverrideScope scope;
  scope.policy = "api";
  scope.key = "mallory";
  std::string error;
  bench.limits.set_override(scope, OverrideKind::block, 0, 60'000, "abuse", kNoon, error);
  REQUIRE(error.empty());
  bench.reset("mallory");
  CHECK(bench.logged.lines.back().first ==
        "key reset: policy 'api', key 'mallory': forgot 3 in 1m (blocked) (ticket 7)");
}
