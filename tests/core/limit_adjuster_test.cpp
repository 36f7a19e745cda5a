// The policy set in force: overrides and load factors applied to the configured limits, the
// most specific override winning, counters unchanged.
#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "core/limit_adjuster.hpp"
#include "core/policy.hpp"

using namespace drl::core;

namespace {

const char* const kPolicies = R"(
[[policy]]
name = "api"
limits = [{ limit = 10, window = "1s" }, { limit = 1000, window = "1h" }]

[policy.tiers.pro]
limits = [{ limit = 100, window = "1s" }, { limit = 50000, window = "1h" }]

[policy.tiers.free]
limit = 5
window = "1s"

[policy.endpoints."POST /login"]
limit = 6
window = "1m"

[policy.endpoints."GET /v1/*"]
limit = 40
window = "10s"

[[policy]]
name = "other"
limit = 7
window = "1m"
)";

const WallTime kNoon{1'800'000'000'000};

std::shared_ptr<const PolicySet> configured() {
  auto config = drl::config::parse_config(kPolicies, "test");
  REQUIRE(config.ok());
  return config->policies;
}

OverrideRecord record(OverrideScope scope, OverrideKind kind, std::uint64_t value,
                      std::uint32_t logical = 0) {
  OverrideRecord r;
  r.scope = std::move(scope);
  r.kind = kind;
  r.value = value;
  r.set_wall_ms = kNoon.unix_ms;
  r.expires_wall_ms = kNoon.unix_ms + 60'000;
  r.retain_until_wall_ms = r.expires_wall_ms;
  r.reason = "incident 42";
  r.stamp = HlcStamp{kNoon.unix_ms, logical, "node-a"};
  return r;
}

// The limit a check of `policy` (with tier and endpoint) sees for the rule with `window_ms`.
struct Seen {
  std::uint64_t limit = 0;
  std::uint64_t configured_limit = 0;
  std::uint64_t counter_seed = 0;
  std::string note;
};

Seen seen(const PolicySet& set, std::string_view policy, std::string_view tier,
          std::string_view endpoint, std::uint32_t window_ms, bool endpoint_scope = false) {
  ResolvedLimit out[drl::bounds::limits_per_item_max];
  const Policy* p = set.find(policy);
  REQUIRE(p != nullptr);
  const Resolution r = resolve(*p, tier, endpoint, out);
  for (std::size_t i = 0; i < r.count; ++i) {
    if (out[i].rule->window_ms == window_ms && out[i].scope.empty() != endpoint_scope) {
      return Seen{out[i].rule->limit, out[i].rule->configured_limit, out[i].rule->counter_seed,
                  std::string(set.adjustment_note(out[i].rule->adjustment))};
    }
  }
  FAIL("no such limit");
  return {};
}

}  // namespace

TEST_CASE("without overrides or factors every limit is the configured one") {
  const auto base = configured();
  const auto in_force = adjust_policies(*base, {}, {});
  const Seen s = seen(*in_force, "api", "", "", 1000);
  CHECK(s.limit == 10);
  CHECK(s.configured_limit == 10);
  CHECK(s.note.empty());
}

TEST_CASE("a policy-wide factor scales every limit of the policy, tiers and endpoints included") {
  const auto base = configured();
  AdjustmentSummary summary;
  const auto in_force = adjust_policies(
      *base, {record(OverrideScope{"api", "", "", 0}, OverrideKind::factor, 500)}, {}, &summary);
  CHECK(seen(*in_force, "api", "", "", 1000).limit == 5);
  CHECK(seen(*in_force, "api", "", "", 3'600'000).limit == 500);
  CHECK(seen(*in_force, "api", "pro", "", 1000).limit == 50);
  CHECK(seen(*in_force, "api", "free", "", 1000).limit == 2);  // floor(2.5)
  CHECK(seen(*in_force, "api", "", "POST /login", 60'000, true).limit == 3);
  CHECK(seen(*in_force, "api", "", "GET /v1/users", 10'000, true).limit == 20);
  CHECK(seen(*in_force, "other", "", "", 60'000).limit == 7);
  CHECK(summary.overrides_applied == 1);
  CHECK(summary.unmatched.empty());

  const Seen s = seen(*in_force, "api", "", "", 1000);
  CHECK(s.configured_limit == 10);
  CHECK(s.counter_seed == seen(*base, "api", "", "", 1000).counter_seed);
  CHECK(s.note.find("override factor 0.5") != std::string::npos);
  CHECK(s.note.find("incident 42") != std::string::npos);
  // The configured set is untouched.
  CHECK(seen(*base, "api", "", "", 1000).limit == 10);
}

TEST_CASE("a tier override changes that tier only, even where the tier uses the defaults") {
  const auto base = configured();
  const auto in_force = adjust_policies(
      *base, {record(OverrideScope{"api", "pro", "", 0}, OverrideKind::factor, 100)}, {});
  CHECK(seen(*in_force, "api", "pro", "", 1000).limit == 10);
  CHECK(seen(*in_force, "api", "", "", 1000).limit == 10);
  CHECK(seen(*in_force, "api", "free", "", 1000).limit == 5);
  // The login endpoint has no pro set: pro callers get a copy of its defaults, scaled, on the
  // same counter; everyone else keeps the configured limit.
  const Seen pro_login = seen(*in_force, "api", "pro", "POST /login", 60'000, true);
  CHECK(pro_login.limit == 1);
  CHECK(pro_login.counter_seed == seen(*base, "api", "", "POST /login", 60'000, true).counter_seed);
  CHECK(seen(*in_force, "api", "free", "POST /login", 60'000, true).limit == 6);
}

TEST_CASE("the most specific override wins; among equals, the newer") {
  const auto base = configured();
  const auto in_force = adjust_policies(
      *base,
      {record(OverrideScope{"api", "", "", 0}, OverrideKind::factor, 500, 1),
       record(OverrideScope{"api", "", "", 1000}, OverrideKind::limit, 3, 0),
       record(OverrideScope{"api", "", "POST /login", 0}, OverrideKind::limit, 1, 0)},
      {});
  CHECK(seen(*in_force, "api", "", "", 1000).limit == 3);
  CHECK(seen(*in_force, "api", "", "", 3'600'000).limit == 500);
  CHECK(seen(*in_force, "api", "", "POST /login", 60'000, true).limit == 1);
  CHECK(seen(*in_force, "api", "", "GET /v1/x", 10'000, true).limit == 20);
}

TEST_CASE("an adaptive factor multiplies with an override and shows in the note") {
  const auto base = configured();
  const auto in_force =
      adjust_policies(*base, {record(OverrideScope{"api", "", "", 0}, OverrideKind::limit, 8)},
                      {AdaptiveFactor{"api", 500, "reported:queue_depth", 180}});
  const Seen s = seen(*in_force, "api", "", "", 1000);
  CHECK(s.limit == 4);
  CHECK(s.note.find("override limit 8") != std::string::npos);
  CHECK(s.note.find("adaptive factor 0.5 (reported:queue_depth 180)") != std::string::npos);
  // Never below 1.
  const auto tiny = adjust_policies(*base, {}, {AdaptiveFactor{"other", 1, "cpu_percent", 99}});
  CHECK(seen(*tiny, "other", "", "", 60'000).limit == 1);
}

TEST_CASE("an override that matches nothing here is reported, not applied") {
  const auto base = configured();
  AdjustmentSummary summary;
  adjust_policies(*base, {record(OverrideScope{"gone", "", "", 0}, OverrideKind::limit, 1)}, {},
                  &summary);
  CHECK(summary.overrides_applied == 0);
  REQUIRE(summary.unmatched.size() == 1);
  CHECK(summary.unmatched.front() == "policy 'gone'");
}

TEST_CASE("an operator's override is checked against the policies in force") {
  const auto base = configured();
  CHECK(validate_override(*base, OverrideScope{"api", "", "", 0}, OverrideKind::factor).empty());
  CHECK(validate_override(*base, OverrideScope{"nope", "", "", 0}, OverrideKind::factor) ==
        "unknown policy 'nope' (policies: api, other)");
  CHECK(validate_override(*base, OverrideScope{"api", "gold", "", 0}, OverrideKind::factor)
            .find("no tier 'gold'") != std::string::npos);
  CHECK(validate_override(*base, OverrideScope{"api", "", "POST /x", 0}, OverrideKind::factor)
            .find("no endpoint") != std::string::npos);
  // A limit for a policy with several windows needs the window.
  CHECK(validate_override(*base, OverrideScope{"api", "", "", 0}, OverrideKind::limit)
            .find("--window") != std::string::npos);
  CHECK(validate_override(*base, OverrideScope{"api", "", "", 1000}, OverrideKind::limit).empty());
  CHECK(validate_override(*base, OverrideScope{"api", "", "POST /login", 0}, OverrideKind::limit)
            .empty());
  CHECK(validate_override(*base, OverrideScope{"api", "", "", 5000}, OverrideKind::factor) ==
        "policy 'api' has no limit with the window 5s");
}
