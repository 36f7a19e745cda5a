#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_decider.hpp"
#include "envoy/rls_policies.hpp"

using namespace drl::envoy;
using drl::Errc;
using drl::core::WallTime;

namespace {

// A boundary of every window from a second to 30 days (a multiple of 210 days).
constexpr std::int64_t kWindowsStart = 1'796'256'000'000;
constexpr std::uint32_t kUint32Max = 4'294'967'295U;

using Entries = std::vector<std::pair<std::string, std::string>>;

RlsDescriptor descriptor(const Entries& entries) {
  RlsDescriptor out;
  for (const auto& [key, value] : entries) out.entries.push_back({key, value});
  return out;
}

// envoyproxy/ratelimit's YAML files in force over a real store and check engine, on a fixed
// clock: what a drld with an [envoy] table decides, without gRPC.
class Rls {
 public:
  explicit Rls(const std::string& yaml, RlsDeciderOptions options = {},
               RlsParseOptions parse_options = {})
      : store_(drl::core::StoreOptions{10'000, 8}),
        engine_(store_, 0),
        decider_(engine_, std::move(options)) {
    load({{"config.yaml", yaml}}, parse_options);
  }

  void load(const std::vector<RlsFile>& files, RlsParseOptions parse_options = {}) {
    auto config = parse_rls_files(files, parse_options);
    REQUIRE_MESSAGE(config.ok(), (config.ok() ? "" : config.error().message));
    auto rules = RlsRules::build(std::move(config.value()));
    REQUIRE_MESSAGE(rules.ok(), (rules.ok() ? "" : rules.error().message));
    decider_.set_rules(rules.value());
  }

  const RlsResponse& ask(const RlsRequest& request) {
    const auto decided = decider_.decide(now_, request, response_);
    REQUIRE_MESSAGE(decided.ok(), (decided.ok() ? "" : decided.error().message));
    REQUIRE(response_.statuses.size() == request.descriptors.size());
    return response_;
  }

  const RlsResponse& ask(const std::string& domain, const std::vector<Entries>& descriptors,
                         std::uint32_t hits_addend = 0) {
    return ask(request(domain, descriptors, hits_addend));
  }

  static RlsRequest request(const std::string& domain, const std::vector<Entries>& descriptors,
                            std::uint32_t hits_addend = 0) {
    RlsRequest out;
    out.domain = domain;
    for (const Entries& entries : descriptors) out.descriptors.push_back(descriptor(entries));
    out.hits_addend = hits_addend;
    return out;
  }

  drl::Error refusal(const RlsRequest& request) {
    const auto decided = decider_.decide(now_, request, response_);
    REQUIRE_FALSE(decided.ok());
    return decided.error();
  }

  // How many of `n` identical requests are answered OK.
  int admitted(int n, const std::string& domain, const std::vector<Entries>& descriptors) {
    int ok = 0;
    for (int i = 0; i < n; ++i) ok += ask(domain, descriptors).overall_code == RlsCode::ok;
    return ok;
  }

  void advance_ms(std::int64_t ms) { now_.unix_ms += ms; }
  RlsDecider& decider() { return decider_; }
  RlsCountsSample domain_counts(const std::string& domain) const {
    for (const auto& sample : decider_.counters().domains()) {
      if (sample.domain == domain) return sample.counts;
    }
    FAIL("no counters for domain " << domain);
    return {};
  }

 private:
  drl::core::CounterStore store_;
  drl::core::CheckEngine engine_;
  RlsDecider decider_;
  WallTime now_{kWindowsStart};
  RlsResponse response_;
};

const RlsDescriptorStatus& only(const RlsResponse& response) {
  REQUIRE(response.statuses.size() == 1);
  return response.statuses[0];
}

}  // namespace

// ---- envoyproxy/ratelimit's README, examples 1 to 9: each config, with the answers it states.

TEST_CASE("README example 1: database users and default each get 500 per second, apart") {
  Rls rls(R"(
domain: mongo_cps
descriptors:
  - key: database
    value: users
    rate_limit:
      unit: second
      requests_per_unit: 500

  - key: database
    value: default
    rate_limit:
      unit: second
      requests_per_unit: 500
)");
  const RlsDescriptorStatus& first = only(rls.ask("mongo_cps", {{{"database", "users"}}}));
  CHECK(first.code == RlsCode::ok);
  REQUIRE(first.current_limit);
  CHECK(first.current_limit->requests_per_unit == 500);
  CHECK(first.current_limit->unit == RlsUnit::second);
  CHECK(first.limit_remaining == 499);
  CHECK(first.duration_until_reset_ms == 1000);
  CHECK(rls.admitted(499, "mongo_cps", {{{"database", "users"}}}) == 499);
  CHECK(only(rls.ask("mongo_cps", {{{"database", "users"}}})).code == RlsCode::over_limit);
  CHECK(rls.ask("mongo_cps", {{{"database", "users"}}}).overall_code == RlsCode::over_limit);
  // The other value has its own 500.
  CHECK(only(rls.ask("mongo_cps", {{{"database", "default"}}})).limit_remaining == 499);
  // A value the file does not list matches nothing: OK, no limit, not counted.
  const RlsDescriptorStatus& unlisted = only(rls.ask("mongo_cps", {{{"database", "logs"}}}));
  CHECK(unlisted.code == RlsCode::ok);
  CHECK_FALSE(unlisted.current_limit);
  CHECK_FALSE(unlisted.duration_until_reset_ms);
  // The next second starts from zero.
  rls.advance_ms(1000);
  CHECK(only(rls.ask("mongo_cps", {{{"database", "users"}}})).limit_remaining == 499);
}

const char* const kExample2 = R"(
domain: messaging
descriptors:
  # Only allow 5 marketing messages a day
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5

  # Only allow 100 messages a day to any unique phone number
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
)";

TEST_CASE("README example 2: 5 marketing messages a day per number, 100 a day per number") {
  Rls rls(kExample2);
  const std::vector<Entries> to_first = {
      {{"message_type", "marketing"}, {"to_number", "2061111111"}}, {{"to_number", "2061111111"}}};
  const RlsResponse& answer = rls.ask("messaging", to_first);
  CHECK(answer.overall_code == RlsCode::ok);
  CHECK(answer.statuses[0].current_limit->requests_per_unit == 5);
  CHECK(answer.statuses[0].current_limit->unit == RlsUnit::day);
  CHECK(answer.statuses[0].limit_remaining == 4);
  CHECK(answer.statuses[1].current_limit->requests_per_unit == 100);
  CHECK(answer.statuses[1].limit_remaining == 99);
  CHECK(rls.admitted(4, "messaging", to_first) == 4);
  // The sixth marketing message: the aggregate is the OR of the descriptors.
  const RlsResponse& sixth = rls.ask("messaging", to_first);
  CHECK(sixth.overall_code == RlsCode::over_limit);
  CHECK(sixth.statuses[0].code == RlsCode::over_limit);
  CHECK(sixth.statuses[1].code == RlsCode::ok);
  // A key without a value counts each value on its own: another number has its own 5.
  const RlsResponse& other =
      rls.ask("messaging", {{{"message_type", "marketing"}, {"to_number", "2062222222"}}});
  CHECK(other.statuses[0].code == RlsCode::ok);
  CHECK(other.statuses[0].limit_remaining == 4);
}

TEST_CASE(
    "compound counting: a request denied by one descriptor is counted by none (not upstream)") {
  Rls rls(kExample2);
  const std::vector<Entries> marketing = {
      {{"message_type", "marketing"}, {"to_number", "2061111111"}}, {{"to_number", "2061111111"}}};
  CHECK(rls.admitted(10, "messaging", marketing) == 5);
  // envoyproxy/ratelimit would have counted all ten on the 100 a day (90 left): drl counted the
  // five it admitted.
  const RlsDescriptorStatus& per_number =
      only(rls.ask("messaging", {{{"to_number", "2061111111"}}}));
  CHECK(per_number.limit_remaining == 94);
}

TEST_CASE("README example 3: key and value is matched before the key alone; 0 blocks a value") {
  Rls rls(R"(
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    rate_limit:
      unit: second
      requests_per_unit: 10

  # Black list IP
  - key: remote_address
    value: 50.0.0.5
    rate_limit:
      unit: second
      requests_per_unit: 0
)");
  CHECK(rls.admitted(12, "edge_proxy_per_ip", {{{"remote_address", "50.0.0.1"}}}) == 10);
  CHECK(rls.admitted(3, "edge_proxy_per_ip", {{{"remote_address", "50.0.0.2"}}}) == 3);
  const RlsDescriptorStatus& blocked =
      only(rls.ask("edge_proxy_per_ip", {{{"remote_address", "50.0.0.5"}}}));
  CHECK(blocked.code == RlsCode::over_limit);
  REQUIRE(blocked.current_limit);
  CHECK(blocked.current_limit->requests_per_unit == 0);
  CHECK(blocked.limit_remaining == 0);
}

TEST_CASE("README example 4: a request matches only descriptors of its own depth") {
  const RlsRequest request = Rls::request("example4", {{{"key", "value"}, {"subkey", "subvalue"}}});
  Rls flat(R"(
domain: example4
descriptors:
  - key: key
    value: value
    rate_limit:
      requests_per_unit: 300
      unit: second
)");
  const RlsDescriptorStatus& none = only(flat.ask(request));
  CHECK(none.code == RlsCode::ok);
  CHECK_FALSE(none.current_limit);
  Rls nested(R"(
domain: example4
descriptors:
  - key: key
    value: value
    descriptors:
      - key: subkey
        rate_limit:
          requests_per_unit: 300
          unit: second
)");
  const RlsDescriptorStatus& matched = only(nested.ask(request));
  REQUIRE(matched.current_limit);
  CHECK(matched.current_limit->requests_per_unit == 300);
  CHECK(matched.limit_remaining == 299);
  // And a shorter request matches no deeper descriptor.
  CHECK_FALSE(only(nested.ask("example4", {{{"key", "value"}}})).current_limit);
}

TEST_CASE("README example 5: unlimited is OK with remaining MaxUint32, never counted") {
  Rls rls(R"(
domain: internal
descriptors:
  - key: ldap
    rate_limit:
      unlimited: true

  - key: azure
    rate_limit:
      unit: minute
      requests_per_unit: 100
)");
  for (int i = 0; i < 3; ++i) {
    const RlsDescriptorStatus& ldap = only(rls.ask("internal", {{{"ldap", "x"}}}));
    CHECK(ldap.code == RlsCode::ok);
    CHECK(ldap.limit_remaining == kUint32Max);
    CHECK_FALSE(ldap.current_limit);
  }
  CHECK(only(rls.ask("internal", {{{"azure", "x"}}})).limit_remaining == 99);
  CHECK(rls.domain_counts("internal").descriptors_unlimited == 3);
}

TEST_CASE("README example 6: shadow_mode is never OVER_LIMIT, and is counted as shadow") {
  Rls rls(R"(
domain: example6
descriptors:
  - key: service
    descriptors:
      - key: user
        value: user-a
        rate_limit:
          requests_per_unit: 10
          unit: second
        shadow_mode: true
      - key: user
        value: user-b
        rate_limit:
          requests_per_unit: 20
          unit: second
)");
  const std::vector<Entries> user_a = {{{"service", "auth-service"}, {"user", "user-a"}}};
  CHECK(rls.admitted(15, "example6", user_a) == 15);
  const RlsDescriptorStatus& shadowed = only(rls.ask("example6", user_a));
  CHECK(shadowed.code == RlsCode::ok);
  CHECK(shadowed.limit_remaining == 0);
  CHECK(shadowed.current_limit->requests_per_unit == 10);
  CHECK(rls.domain_counts("example6").descriptors_shadow_over_limit == 6);
  const std::vector<Entries> user_b = {{{"service", "auth-service"}, {"user", "user-b"}}};
  CHECK(rls.admitted(25, "example6", user_b) == 20);
  CHECK(rls.domain_counts("example6").descriptors_over_limit == 5);
}

TEST_CASE("README example 7: replaces drops the named limit and leaves its count alone") {
  Rls rls(R"(
domain: example7
descriptors:
  - key: key_1
    value: value_1
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          name: specific_limit
          requests_per_unit: 5
          unit: second
  - key: key_2
    value: value_2
    descriptors:
      - key: user
        value: bkthomps
        rate_limit:
          replaces:
            - name: specific_limit
          requests_per_unit: 10
          unit: second
)");
  const Entries first = {{"key_1", "value_1"}, {"user", "bkthomps"}};
  const Entries second = {{"key_2", "value_2"}, {"user", "bkthomps"}};
  // Both: 10 a second, the 5 a second replaced.
  const RlsResponse& both = rls.ask("example7", {first, second});
  CHECK_FALSE(both.statuses[0].current_limit);
  CHECK(both.statuses[1].current_limit->requests_per_unit == 10);
  CHECK(rls.admitted(11, "example7", {first, second}) == 9);
  // The replaced limit was not counted: (key_1, value_1), (user, bkthomps) still has its 5.
  CHECK(only(rls.ask("example7", {first})).limit_remaining == 4);
  CHECK(rls.admitted(5, "example7", {first}) == 4);
  // (key_2, value_2), (user, bkthomps) alone: 10 a second (already used up above).
  CHECK(only(rls.ask("example7", {second})).code == RlsCode::over_limit);
}

TEST_CASE("README example 8: detailed_metric gives each unlisted value its own statistics") {
  Rls rls(R"(
domain: example8
descriptors:
  - key: key1
    detailed_metric: true
    rate_limit:
      unit: minute
      requests_per_unit: 10
  - key: key1
    value: value1
    rate_limit:
      unit: minute
      requests_per_unit: 20
)");
  CHECK(rls.admitted(12, "example8", {{{"key1", "unspecified_value"}}}) == 10);
  CHECK(rls.admitted(3, "example8", {{{"key1", "unspecified_value2"}}}) == 3);
  CHECK(only(rls.ask("example8", {{{"key1", "value1"}}})).current_limit->requests_per_unit == 20);
  std::vector<std::string> series;
  for (const auto& sample : rls.decider().counters().detailed()) {
    CHECK(sample.domain == "example8");
    series.push_back(sample.series);
    if (sample.series == "key1_unspecified_value") {
      CHECK(sample.counts.descriptors_ok == 10);
      CHECK(sample.counts.descriptors_over_limit == 2);
    }
  }
  std::sort(series.begin(), series.end());
  // key1_value1 has no detailed_metric: only the domain counts it.
  CHECK(series == std::vector<std::string>{"key1_unspecified_value", "key1_unspecified_value2"});
}

TEST_CASE("README example 9: a wildcard value counts each value it matches on its own") {
  Rls rls(R"(
domain: example9
descriptors:
  - key: key1
    value: value*
    rate_limit:
      unit: minute
      requests_per_unit: 20
)");
  CHECK(rls.admitted(25, "example9", {{{"key1", "value_1"}}}) == 20);
  CHECK(rls.admitted(25, "example9", {{{"key1", "value_2"}}}) == 20);
  CHECK_FALSE(only(rls.ask("example9", {{{"key1", "other"}}})).current_limit);
}

// ---- Beyond the README.

TEST_CASE("wildcard with share_threshold: every value it matches shares one count") {
  Rls rls(R"(
domain: files
descriptors:
  - key: path
    value: files/*
    share_threshold: true
    rate_limit: {unit: hour, requests_per_unit: 3}
  - key: path
    value: models/*
    rate_limit: {unit: hour, requests_per_unit: 3}
)");
  CHECK(rls.admitted(2, "files", {{{"path", "files/a.pdf"}}}) == 2);
  CHECK(rls.admitted(2, "files", {{{"path", "files/b.csv"}}}) == 1);
  CHECK(rls.admitted(2, "files", {{{"path", "models/a"}}}) == 2);
  CHECK(rls.admitted(2, "files", {{{"path", "models/b"}}}) == 2);
}

TEST_CASE("wildcards: an exact value wins over a prefix, the first prefix in the file wins") {
  Rls rls(R"(
domain: d
descriptors:
  - {key: p, value: "/api/*", rate_limit: {unit: minute, requests_per_unit: 1}}
  - {key: p, value: "/api/v2*", rate_limit: {unit: minute, requests_per_unit: 2}}
  - {key: p, value: "/api/login", rate_limit: {unit: minute, requests_per_unit: 3}}
  - {key: p, rate_limit: {unit: minute, requests_per_unit: 4}}
)");
  CHECK(only(rls.ask("d", {{{"p", "/api/login"}}})).current_limit->requests_per_unit == 3);
  CHECK(only(rls.ask("d", {{{"p", "/api/v2/x"}}})).current_limit->requests_per_unit == 1);
  CHECK(only(rls.ask("d", {{{"p", "/other"}}})).current_limit->requests_per_unit == 4);
}

TEST_CASE("matching never goes back: a key and value without the next level is no match") {
  Rls rls(R"(
domain: d
descriptors:
  - key: a
    value: special
    descriptors:
      - {key: b, value: only, rate_limit: {unit: minute, requests_per_unit: 1}}
  - key: a
    descriptors:
      - {key: b, rate_limit: {unit: minute, requests_per_unit: 2}}
)");
  CHECK(only(rls.ask("d", {{{"a", "x"}, {"b", "y"}}})).current_limit->requests_per_unit == 2);
  CHECK(only(rls.ask("d", {{{"a", "special"}, {"b", "only"}}})).current_limit->requests_per_unit ==
        1);
  // (a, special) is taken, and (b, y) is not under it: envoyproxy/ratelimit finds no limit.
  CHECK_FALSE(only(rls.ask("d", {{{"a", "special"}, {"b", "y"}}})).current_limit);
}

TEST_CASE("an unknown domain and descriptors that match nothing: OK, no limit, not counted") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: second, requests_per_unit: 1}}\n");
  for (int i = 0; i < 3; ++i) {
    const RlsResponse& unknown = rls.ask("nowhere", {{{"a", "1"}}, {{"b", "2"}}});
    CHECK(unknown.overall_code == RlsCode::ok);
    CHECK_FALSE(unknown.statuses[0].current_limit);
    CHECK_FALSE(unknown.statuses[1].current_limit);
    CHECK(only(rls.ask("d", {{{"b", "2"}}})).code == RlsCode::ok);
  }
  CHECK(only(rls.ask("d", {{{"a", "1"}}})).limit_remaining == 0);
  const RlsCountsSample unknown = rls.domain_counts("(unknown)");
  CHECK(unknown.requests_ok == 3);
  CHECK(unknown.descriptors_no_limit == 6);
  CHECK(rls.domain_counts("d").descriptors_no_limit == 3);
}

TEST_CASE("a descriptor's limit override: its limit and unit, counted per entries, no shadow") {
  Rls rls(R"(
domain: d
descriptors:
  - key: user
    shadow_mode: true
    rate_limit: {unit: hour, requests_per_unit: 100, name: configured}
)");
  RlsRequest request = Rls::request("d", {{{"user", "alice"}}});
  request.descriptors[0].limit = RlsLimitOverride{2, RlsUnit::minute};
  const RlsDescriptorStatus& first = only(rls.ask(request));
  REQUIRE(first.current_limit);
  CHECK(first.current_limit->requests_per_unit == 2);
  CHECK(first.current_limit->unit == RlsUnit::minute);
  CHECK(first.current_limit->name.empty());
  CHECK(first.limit_remaining == 1);
  CHECK(only(rls.ask(request)).code == RlsCode::ok);
  CHECK(only(rls.ask(request)).code == RlsCode::over_limit);  // not in shadow mode
  // It applies where the config has no descriptor at all, in a known domain ...
  RlsRequest elsewhere = Rls::request("d", {{{"tenant", "t1"}, {"route", "r"}}});
  elsewhere.descriptors[0].limit = RlsLimitOverride{1, RlsUnit::second};
  CHECK(only(rls.ask(elsewhere)).code == RlsCode::ok);
  CHECK(only(rls.ask(elsewhere)).code == RlsCode::over_limit);
  // ... not in an unknown one.
  elsewhere.domain = "nowhere";
  CHECK_FALSE(only(rls.ask(elsewhere)).current_limit);
  // The configured limit kept its own count.
  CHECK(only(rls.ask("d", {{{"user", "alice"}}})).limit_remaining == 99);
}

TEST_CASE(
    "a limit override on a descriptor without entries counts on the domain alone, as "
    "envoyproxy/ratelimit does") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: second, requests_per_unit: 5}}\n");
  RlsRequest bare = Rls::request("d", {{{"a", "1"}}});
  bare.descriptors[0].entries.clear();
  bare.descriptors[0].limit = RlsLimitOverride{2, RlsUnit::minute};
  CHECK(only(rls.ask(bare)).limit_remaining == 1);
  CHECK(only(rls.ask(bare)).code == RlsCode::ok);
  CHECK(only(rls.ask(bare)).code == RlsCode::over_limit);
  // Its count is no descriptor's with entries, not even one whose key or value is empty.
  RlsRequest empty_entry = Rls::request("d", {{{"", ""}}});
  empty_entry.descriptors[0].limit = RlsLimitOverride{2, RlsUnit::minute};
  CHECK(only(rls.ask(empty_entry)).limit_remaining == 1);
  // Without an override it matches nothing: OK, no limit.
  bare.descriptors[0].limit.reset();
  CHECK_FALSE(only(rls.ask(bare)).current_limit);
}

TEST_CASE("a limit override drl cannot count is an error for the request, counting nothing") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: second, requests_per_unit: 5}}\n");
  RlsRequest request = Rls::request("d", {{{"a", "1"}}, {{"b", "2"}}});
  request.descriptors[1].limit = RlsLimitOverride{10, RlsUnit::unknown};
  const drl::Error unknown = rls.refusal(request);
  CHECK(unknown.code == Errc::invalid_argument);
  CHECK(only(rls.ask("d", {{{"a", "1"}}})).limit_remaining == 4);
  CHECK(rls.decider().counters().request_errors == 1);
  // A year is counted like any unit.
  request.descriptors[1].limit = RlsLimitOverride{10, RlsUnit::year};
  CHECK(rls.ask(request).statuses[1].limit_remaining == 9);
}

TEST_CASE("hits_addend: the request's (0 means 1), a descriptor's own wins, 0 there only looks") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 10}}\n");
  CHECK(only(rls.ask("d", {{{"a", "1"}}}, 0)).limit_remaining == 9);
  CHECK(only(rls.ask("d", {{{"a", "1"}}}, 4)).limit_remaining == 5);
  RlsRequest request = Rls::request("d", {{{"a", "1"}}}, 4);
  request.descriptors[0].hits_addend = 2;
  CHECK(only(rls.ask(request)).limit_remaining == 3);
  request.descriptors[0].hits_addend = 0;
  CHECK(only(rls.ask(request)).limit_remaining == 3);
  CHECK(only(rls.ask(request)).code == RlsCode::ok);
  request.descriptors[0].hits_addend = 4;
  CHECK(only(rls.ask(request)).code == RlsCode::over_limit);
  CHECK(only(rls.ask(request)).limit_remaining == 3);  // denied: not counted
}

TEST_CASE("a limit of 0 denies any cost, and answers a look (hits_addend 0) OK with 0 remaining") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: ip, value: 50.0.0.5, rate_limit: {unit: second, "
      "requests_per_unit: 0}}\n");
  RlsRequest request = Rls::request("d", {{{"ip", "50.0.0.5"}}});
  CHECK(only(rls.ask(request)).code == RlsCode::over_limit);
  request.descriptors[0].hits_addend = 0;
  const RlsDescriptorStatus& look = only(rls.ask(request));
  CHECK(look.code == RlsCode::ok);
  CHECK(look.limit_remaining == 0);
  REQUIRE(look.current_limit);
  CHECK(look.current_limit->requests_per_unit == 0);
  // The same for a request's limit override of 0.
  RlsRequest overridden = Rls::request("d", {{{"user", "u"}}});
  overridden.descriptors[0].limit = RlsLimitOverride{0, RlsUnit::month};
  CHECK(only(rls.ask(overridden)).code == RlsCode::over_limit);
  overridden.descriptors[0].hits_addend = 0;
  CHECK(only(rls.ask(overridden)).code == RlsCode::ok);
}

TEST_CASE("hits_addend above a limit is OVER_LIMIT, and the request counts nowhere") {
  Rls rls(R"(
domain: d
descriptors:
  - {key: a, rate_limit: {unit: minute, requests_per_unit: 10}}
  - {key: b, rate_limit: {unit: minute, requests_per_unit: 100}}
  - {key: s, shadow_mode: true, rate_limit: {unit: minute, requests_per_unit: 1}}
)");
  RlsRequest request = Rls::request("d", {{{"a", "1"}}, {{"b", "1"}}});
  request.descriptors[0].hits_addend = 11;
  const RlsResponse& answer = rls.ask(request);
  CHECK(answer.overall_code == RlsCode::over_limit);
  CHECK(answer.statuses[0].code == RlsCode::over_limit);
  CHECK(answer.statuses[0].limit_remaining == 10);
  CHECK(answer.statuses[1].code == RlsCode::ok);
  CHECK(answer.statuses[1].limit_remaining == 100);
  request.descriptors[0].hits_addend = std::uint64_t{1} << 40;
  CHECK(rls.ask(request).overall_code == RlsCode::over_limit);
  // Two descriptors on one counter add up: 6 + 6 is above 10.
  RlsRequest twice = Rls::request("d", {{{"a", "2"}}, {{"a", "2"}}}, 6);
  CHECK(rls.ask(twice).overall_code == RlsCode::over_limit);
  CHECK(only(rls.ask("d", {{{"a", "2"}}})).limit_remaining == 9);
  // In shadow mode, above the limit is answered OK and counted as shadow, not counted itself.
  RlsRequest shadow = Rls::request("d", {{{"s", "1"}}, {{"b", "9"}}}, 5);
  const RlsResponse& shadowed = rls.ask(shadow);
  CHECK(shadowed.overall_code == RlsCode::ok);
  CHECK(shadowed.statuses[0].code == RlsCode::ok);
  CHECK(shadowed.statuses[0].limit_remaining == 0);
  CHECK(shadowed.statuses[1].limit_remaining == 95);
}

TEST_CASE("bounds: more than 8 limited descriptors, too many descriptors or entries: errors") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 10}}\n");
  std::vector<Entries> nine;
  for (int i = 0; i < 9; ++i) nine.push_back({{"a", std::to_string(i)}});
  const drl::Error too_many = rls.refusal(Rls::request("d", nine));
  CHECK(too_many.code == Errc::too_many_items);
  CHECK(too_many.message ==
        "9 descriptors of this request have a limit; at most 8 are decided together");
  nine.pop_back();
  CHECK(rls.ask("d", nine).overall_code == RlsCode::ok);
  // Descriptors without a limit do not count towards the 8.
  for (int i = 0; i < 20; ++i) nine.push_back({{"none", std::to_string(i)}});
  CHECK(rls.ask("d", nine).overall_code == RlsCode::ok);
  std::vector<Entries> many(65, Entries{{"none", "x"}});
  CHECK(rls.refusal(Rls::request("d", many)).code == Errc::too_many_items);
  Entries deep;
  for (int i = 0; i < 17; ++i) deep.push_back({"k", "v"});
  CHECK(rls.refusal(Rls::request("d", {deep})).code == Errc::too_many_items);
  CHECK(rls.refusal(Rls::request("d", {{{"a", std::string(1025, 'v')}}})).code ==
        Errc::invalid_argument);
  CHECK(rls.refusal(Rls::request("", {{{"a", "1"}}})).code == Errc::malformed_request);
  CHECK(rls.refusal(Rls::request("d", {})).code == Errc::malformed_request);
  CHECK(rls.refusal(Rls::request(std::string(257, 'd'), {{{"a", "1"}}})).code ==
        Errc::invalid_argument);
  // Long values fit: the counter key is then a digest.
  const std::vector<Entries> long_values = {{{"a", std::string(1024, 'x')}},
                                            {{"a", std::string(1023, 'x') + "y"}}};
  const RlsResponse& apart = rls.ask("d", long_values);
  CHECK(apart.statuses[0].limit_remaining == 9);
  CHECK(apart.statuses[1].limit_remaining == 9);
}

TEST_CASE("a decider without rules answers an error; one with an empty config answers OK") {
  drl::core::CounterStore store(drl::core::StoreOptions{100, 1});
  drl::core::CheckEngine engine(store, 0);
  RlsDecider decider(engine);
  RlsResponse response;
  const auto decided =
      decider.decide(WallTime{kWindowsStart}, Rls::request("d", {{{"a", "1"}}}), response);
  REQUIRE_FALSE(decided.ok());
  CHECK(decided.error().code == Errc::unavailable);
  decider.set_rules(RlsRules::build(RlsConfig{}).value());
  CHECK(decider.decide(WallTime{kWindowsStart}, Rls::request("d", {{{"a", "1"}}}), response).ok());
}

TEST_CASE("a reload keeps the counts of the descriptors it keeps, whatever their new limit") {
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 5}}\n");
  CHECK(rls.admitted(3, "d", {{{"a", "1"}}}) == 3);
  rls.load({{"d.yaml",
             "domain: d\ndescriptors:\n  - {key: b, rate_limit: {unit: minute, requests_per_unit: "
             "1}}\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 10}}\n"},
            {"e.yaml", "domain: e\n"}});
  const RlsDescriptorStatus& kept = only(rls.ask("d", {{{"a", "1"}}}));
  CHECK(kept.current_limit->requests_per_unit == 10);
  CHECK(kept.limit_remaining == 6);
  // Another window is another counter.
  rls.load({{"d.yaml",
             "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: hour, "
             "requests_per_unit: 10}}\n"}});
  CHECK(only(rls.ask("d", {{{"a", "1"}}})).limit_remaining == 9);
}

TEST_CASE("duration_until_reset: to the end of the fixed window; sliding: until it empties") {
  Rls rls(R"(
domain: d
descriptors:
  - {key: f, rate_limit: {unit: minute, requests_per_unit: 10}}
  - {key: s, rate_limit: {unit: minute, requests_per_unit: 10, algorithm: sliding}}
  - {key: m, rate_limit: {unit: month, requests_per_unit: 10}}
)");
  rls.advance_ms(15'250);
  CHECK(only(rls.ask("d", {{{"f", "1"}}})).duration_until_reset_ms == 44'750);
  // Sliding: the count leaves the window at the end of the next one.
  CHECK(only(rls.ask("d", {{{"s", "1"}}})).duration_until_reset_ms == 44'750 + 60'000);
  CHECK(only(rls.ask("d", {{{"m", "1"}}})).duration_until_reset_ms == 30ULL * 86'400'000 - 15'250);
}

TEST_CASE("drl extensions: sliding windows, any window, several limits on one descriptor") {
  Rls rls(R"(
domain: d
descriptors:
  - key: burst
    rate_limits:
      - {unit: second, requests_per_unit: 2}
      - {unit: minute, requests_per_unit: 3}
  - {key: five, rate_limit: {window: 5m, requests_per_unit: 2}}
)");
  CHECK(rls.admitted(3, "d", {{{"burst", "u"}}}) == 2);
  rls.advance_ms(1000);
  const RlsDescriptorStatus& third = only(rls.ask("d", {{{"burst", "u"}}}));
  CHECK(third.code == RlsCode::ok);
  CHECK(third.current_limit->unit == RlsUnit::minute);  // the one with the least left
  CHECK(third.limit_remaining == 0);
  rls.advance_ms(1000);
  const RlsDescriptorStatus& fourth = only(rls.ask("d", {{{"burst", "u"}}}));
  CHECK(fourth.code == RlsCode::over_limit);
  CHECK(fourth.current_limit->unit == RlsUnit::minute);  // the one that denied
  CHECK(rls.admitted(3, "d", {{{"five", "u"}}}) == 2);
  const RlsDescriptorStatus& five = only(rls.ask("d", {{{"five", "u"}}}));
  CHECK(five.current_limit->unit == RlsUnit::unknown);
  CHECK(five.current_limit->requests_per_unit == 2);
  CHECK(*five.duration_until_reset_ms == 300'000 - 2'000);
}

TEST_CASE("a daemon-wide sliding default applies to the files' limits and to overrides") {
  RlsParseOptions sliding;
  sliding.default_algorithm = drl::core::Algorithm::sliding;
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 4}}\n",
      {}, sliding);
  CHECK(rls.admitted(4, "d", {{{"a", "1"}}}) == 4);
  rls.advance_ms(60'000 + 30'000);  // half the previous window still weighs: 2 of 4 left
  CHECK(rls.admitted(4, "d", {{{"a", "1"}}}) == 2);
  const RlsRules& rules = *rls.decider().rules();
  CHECK(rules.policies().find("envoy/d/override/minute")->defaults.rules[0].algorithm ==
        drl::core::Algorithm::sliding);
  CHECK(rules.policies().find("envoy/d/a")->defaults.rules[0].algorithm ==
        drl::core::Algorithm::sliding);
}

TEST_CASE("response headers: the IETF fields of drl's HTTP endpoint, and X-RateLimit-*") {
  RlsDeciderOptions options;
  options.ietf_headers = true;
  options.x_ratelimit_headers = true;
  Rls rls(R"(
domain: d
descriptors:
  - {key: a, rate_limit: {unit: minute, requests_per_unit: 10}}
  - {key: b, rate_limit: {unit: second, requests_per_unit: 3}}
  - {key: c, rate_limit: {unlimited: true}}
)",
          options);
  rls.advance_ms(20'500);
  const RlsResponse& answer = rls.ask("d", {{{"a", "1"}}, {{"b", "1"}}, {{"c", "1"}}});
  using Headers = std::vector<std::pair<std::string, std::string>>;
  CHECK(answer.response_headers_to_add ==
        Headers{{"RateLimit-Policy", "\"envoy/d/a\";q=10;w=60, \"envoy/d/b\";q=3;w=1"},
                {"RateLimit", "\"envoy/d/a\";r=9;t=40, \"envoy/d/b\";r=2;t=1"},
                {"X-RateLimit-Limit", "3"},
                {"X-RateLimit-Remaining", "2"},
                {"X-RateLimit-Reset", "1"}});
  rls.ask("d", {{{"b", "1"}}});
  rls.ask("d", {{{"b", "1"}}});
  const RlsResponse& over = rls.ask("d", {{{"b", "1"}}, {{"a", "1"}}});
  CHECK(over.overall_code == RlsCode::over_limit);
  REQUIRE(over.response_headers_to_add.size() == 5);
  CHECK(over.response_headers_to_add[2] ==
        std::pair<std::string, std::string>{"X-RateLimit-Limit", "3"});
  CHECK(over.response_headers_to_add[3] ==
        std::pair<std::string, std::string>{"X-RateLimit-Remaining", "0"});
  // None asked for: none added.
  Rls plain(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: 1}}\n");
  CHECK(plain.ask("d", {{{"a", "1"}}}).response_headers_to_add.empty());
}

TEST_CASE("X-RateLimit-* are added even when the only limit has 2^32 - 1 remaining") {
  RlsDeciderOptions options;
  options.x_ratelimit_headers = true;
  Rls rls(
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: minute, requests_per_unit: "
      "4294967295}}\n",
      options);
  RlsRequest look = Rls::request("d", {{{"a", "1"}}});
  look.descriptors[0].hits_addend = 0;  // looks without counting: all of the limit remains
  const RlsResponse& answer = rls.ask(look);
  REQUIRE(answer.statuses[0].limit_remaining == 4294967295u);
  using Headers = std::vector<std::pair<std::string, std::string>>;
  CHECK(answer.response_headers_to_add == Headers{{"X-RateLimit-Limit", "4294967295"},
                                                  {"X-RateLimit-Remaining", "4294967295"},
                                                  {"X-RateLimit-Reset", "60"}});
}

TEST_CASE("policy names: envoy/<domain>/<path>, unique; a collision is refused at build") {
  auto config =
      parse_rls_files(std::vector<RlsFile>{{"a.yaml",
                                            "domain: a/b\ndescriptors:\n  - {key: c, rate_limit: "
                                            "{unit: second, requests_per_unit: 1}}\n"},
                                           {"b.yaml",
                                            "domain: a\ndescriptors:\n  - {key: b/c, rate_limit: "
                                            "{unit: second, requests_per_unit: 1}}\n"}});
  REQUIRE(config.ok());
  const auto rules = RlsRules::build(std::move(config.value()));
  REQUIRE_FALSE(rules.ok());
  CHECK(rules.error().message.find("its policy name 'envoy/a/b/c' is also that of a.yaml:3:5") !=
        std::string::npos);
}

TEST_CASE("counters are bounded: domains beyond the bound share one, detailed series stop") {
  RlsCounters counters;
  const std::uint32_t first = counters.domain_id("a");
  CHECK(counters.domain_id("a") == first);  // stable, so counts survive reloads
  for (std::size_t i = 0; i < drl::bounds::envoy_domains_metered_max + 5; ++i) {
    counters.domain_id("domain-" + std::to_string(i));
  }
  CHECK(counters.domain_id("one too many") == RlsCounters::other_domains);
  CHECK(counters.domains().size() == drl::bounds::envoy_domains_metered_max + 2);
  for (std::size_t i = 0; i < drl::bounds::envoy_detailed_series_max; ++i) {
    REQUIRE(counters.detailed("d", "key_" + std::to_string(i)) != nullptr);
  }
  CHECK(counters.detailed("d", "key_0") != nullptr);  // existing series still count
  CHECK(counters.detailed("d", "key_new") == nullptr);
  CHECK(counters.detailed_series_dropped == 1);
  CHECK(counters.detailed().size() == drl::bounds::envoy_detailed_series_max);
}

TEST_CASE("threads deciding while the rules are reloaded admit exactly the limit in all") {
  const std::string yaml =
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: hour, requests_per_unit: 1000}}\n"
      "  - {key: b, rate_limit: {unit: hour, requests_per_unit: 1000000}}\n";
  Rls rls(yaml);
  std::atomic<int> admitted{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      RlsResponse response;
      const RlsRequest request = Rls::request("d", {{{"a", "shared"}}, {{"b", "shared"}}});
      for (int i = 0; i < 500; ++i) {
        if (!rls.decider().decide(WallTime{kWindowsStart}, request, response).ok()) failed = true;
        if (response.overall_code == RlsCode::ok) ++admitted;
      }
    });
  }
  for (int i = 0; i < 50; ++i) rls.load({{"d.yaml", yaml}});
  for (std::thread& thread : threads) thread.join();
  CHECK_FALSE(failed);
  CHECK(admitted == 1000);
  // The wider limit counted exactly the admitted requests.
  CHECK(only(rls.ask("d", {{{"b", "shared"}}})).limit_remaining == 1'000'000 - 1000 - 1);
}
