// LimitsInForce: the set in force derived from the configured policies, the override table and
// the adaptive factors, again only when one of them moved; what changed told to the log sink.
#include "core/limits_in_force.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"

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
  CHECK(logged.lines[0].first.find("override in force: policy 'api': limit 7") == 0);
  CHECK(logged.lines[0].second);
  CHECK_FALSE(limits.refresh(kNoon));
}

TEST_CASE("limits in force: a local write is logged as local, and its expiry ends it") {
  Logged logged;
  LimitsInForce limits("n1", policies(kConfig), {}, logged.sink());
  std::string error;
  limits.table().set(api_scope(), OverrideKind::limit, 7, 1000, "", kNoon, error);
  limits.derive(kNoon);
  REQUIRE(logged.lines.size() == 1);
  CHECK_FALSE(logged.lines[0].second);
  CHECK(limits.refresh(WallTime{kNoon.unix_ms + 1500}));
  CHECK(limit_of(limits, "api") == 100);
  CHECK(logged.lines.back().first == "override ended (expired): policy 'api', was limit 7");
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
