#include <doctest/doctest.h>

#include <set>
#include <string>

#include "config/config.hpp"
#include "core/counter_id.hpp"
#include "core/policy.hpp"

using namespace drl::core;

namespace {

const char* const kPolicies = R"(
[[policy]]
name = "api"
limits = [{ limit = 10, window = "1s" }, { limit = 1000, window = "1h" }]

[policy.tiers.pro]
limits = [{ limit = 100, window = "1s" }, { limit = 50000, window = "1h" }]

[policy.endpoints."POST /login"]
limit = 5
window = "1m"

[policy.endpoints."POST /login".tiers.pro]
limit = 20
window = "1m"

[policy.endpoints."GET /search"]
limit = 30
window = "1m"
)";

struct Resolved {
  std::size_t count;
  bool tier_unknown;
  std::set<std::string> limits;  // "scope:limit/window_ms"
};

Resolved resolve_for(std::string_view tier, std::string_view endpoint) {
  static const auto parsed = drl::config::parse_config(kPolicies, "test");
  REQUIRE(parsed.ok());
  const Policy* policy = parsed->policies->find("api");
  REQUIRE(policy != nullptr);
  ResolvedLimit out[drl::bounds::limits_per_item_max];
  const Resolution resolution = resolve(*policy, tier, endpoint, out);
  Resolved result{resolution.count, resolution.tier_unknown, {}};
  for (std::size_t i = 0; i < resolution.count; ++i) {
    result.limits.insert(std::string(out[i].scope) + ":" + std::to_string(out[i].rule->limit) +
                         "/" + std::to_string(out[i].rule->window_ms));
  }
  return result;
}

}  // namespace

TEST_CASE("policy: a check without tier or endpoint gets the policy's default limits") {
  const Resolved r = resolve_for("", "");
  CHECK(r.limits == std::set<std::string>{":10/1000", ":1000/3600000"});
  CHECK_FALSE(r.tier_unknown);
}

TEST_CASE("policy: a tier replaces the default limits with its own") {
  const Resolved r = resolve_for("pro", "");
  CHECK(r.limits == std::set<std::string>{":100/1000", ":50000/3600000"});
}

TEST_CASE("policy: an endpoint adds its own limits to the policy-wide ones") {
  const Resolved r = resolve_for("", "POST /login");
  CHECK(r.limits == std::set<std::string>{":10/1000", ":1000/3600000", "POST /login:5/60000"});
}

TEST_CASE("policy: an endpoint's tier replaces the endpoint's default limits") {
  const Resolved r = resolve_for("pro", "POST /login");
  CHECK(r.limits == std::set<std::string>{":100/1000", ":50000/3600000", "POST /login:20/60000"});
}

TEST_CASE("policy: a tier the endpoint does not define uses the endpoint's defaults") {
  const Resolved r = resolve_for("pro", "GET /search");
  CHECK(r.limits == std::set<std::string>{":100/1000", ":50000/3600000", "GET /search:30/60000"});
}

TEST_CASE("policy: an unknown tier falls back to the defaults and is flagged") {
  const Resolved r = resolve_for("enterprise", "");
  CHECK(r.limits == std::set<std::string>{":10/1000", ":1000/3600000"});
  CHECK(r.tier_unknown);
}

TEST_CASE("policy: an endpoint the policy does not name adds nothing") {
  const Resolved r = resolve_for("", "GET /unknown");
  CHECK(r.count == 2);
}

TEST_CASE("policy: tiers share counters with the defaults, endpoints and windows do not") {
  CHECK(counter_seed("api", "", 1000) == counter_seed("api", "", 1000));
  CHECK(counter_seed("api", "", 1000) != counter_seed("api", "POST /login", 1000));
  CHECK(counter_seed("api", "", 1000) != counter_seed("api", "", 2000));
  CHECK(counter_seed("api", "", 1000) != counter_seed("apix", "", 1000));
  // The separator keeps policy and scope apart.
  CHECK(counter_seed("ab", "c", 1000) != counter_seed("a", "bc", 1000));
  const std::uint64_t seed = counter_seed("api", "", 1000);
  CHECK(counter_id(seed, "alice") != counter_id(seed, "bob"));
  CHECK(counter_id(seed, "alice") != 0);
}

TEST_CASE("counter ids: windows of up to 31 days keep their ids; a year's window has its own") {
  // Frozen: every node, of any version, must derive these (docs/architecture.md). A change here
  // splits a cluster's counts between old and new nodes.
  CHECK(counter_seed("api", "", 60'000) == 7824319429518913069ULL);
  CHECK(counter_id(counter_seed("api", "", 60'000), "alice") == 16155765347021166652ULL);
  CHECK(counter_seed("api", "", 2'678'400'000) == 16860823378805003416ULL);  // 31 days
  CHECK(counter_id(counter_seed("api", "", 2'678'400'000), "alice") == 3511019310943309324ULL);
  const std::uint64_t year = counter_seed("api", "", 31'536'000'000ULL);
  CHECK(year != counter_seed("api", "", 31'536'000'000ULL % (1ULL << 32)));
  CHECK(year != counter_seed("api", "", 2'678'400'000));
  CHECK(year != counter_seed("api", "", 31'622'400'000ULL));  // 366 days
}
