#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/limit_adjuster.hpp"
#include "core/totals_requests.hpp"

using namespace drl::core;
using drl::Errc;

namespace {

// A limiter on a fixed clock, for scripted checks.
class Bench {
 public:
  explicit Bench(const char* toml) : store_(StoreOptions{10'000, 8}), engine_(store_, 0) {
    reload(toml);
  }

  void reload(const char* toml) {
    auto parsed = drl::config::parse_config(toml, "test");
    REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
    policies_ = parsed->policies;
  }

  const CheckOutcome& check(std::vector<CheckItem> items) {
    engine_.check(*policies_, now_, items, outcome_);
    return outcome_;
  }

  const CheckOutcome& check(std::string_view policy, std::string_view key, std::uint64_t cost = 1,
                            std::string_view tier = "", std::string_view endpoint = "") {
    return check({CheckItem{policy, key, tier, endpoint, cost}});
  }

  // Checks `n` times; returns how many were allowed.
  int admit(int n, std::string_view policy, std::string_view key) {
    int allowed = 0;
    for (int i = 0; i < n; ++i) allowed += check(policy, key).allowed ? 1 : 0;
    return allowed;
  }

  std::uint64_t remaining(std::string_view policy, std::string_view key) {
    const CheckOutcome& peek = check(policy, key, 0);
    REQUIRE(peek.error == Errc::ok);
    return peek.binding_limit().verdict.remaining;
  }

  // Puts `records` in force on top of the configured policies, as drld does.
  void adjust(const std::vector<OverrideRecord>& records) {
    policies_ = adjust_policies(*policies_, records, {});
  }

  void advance_ms(std::int64_t ms) { now_.unix_ms += ms; }
  const PolicySet& policies() const { return *policies_; }
  void set_ms(std::int64_t ms) { now_.unix_ms = ms; }
  CounterStore& store() { return store_; }

 private:
  CounterStore store_;
  CheckEngine engine_;
  std::shared_ptr<const PolicySet> policies_;
  WallTime now_{1'800'000'000'000};  // a window boundary for every window in these tests
  CheckOutcome outcome_;
};

const char* const kTwoLimits = R"(
[[policy]]
name = "api"
algorithm = "fixed"
limits = [{ limit = 2, window = "1s" }, { limit = 5, window = "1m" }]
)";

}  // namespace

TEST_CASE("check: with two limits, the tighter one denies and the other is not counted") {
  Bench bench(kTwoLimits);
  CHECK(bench.admit(2, "api", "alice") == 2);
  const CheckOutcome& denied = bench.check("api", "alice");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().rule->window_ms == 1000);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 1000);
  // The denied check counted nowhere: the minute limit still has 3 left.
  const CheckOutcome& peek = bench.check("api", "alice", 0);
  for (std::size_t i = 0; i < peek.limit_count; ++i) {
    if (peek.limits[i].rule->window_ms == 60'000) CHECK(peek.limits[i].verdict.remaining == 3);
  }
}

TEST_CASE("check: with two limits, the wider one denies once the narrow one has reset") {
  Bench bench(kTwoLimits);
  CHECK(bench.admit(3, "api", "alice") == 2);
  bench.advance_ms(1000);
  CHECK(bench.admit(3, "api", "alice") == 2);
  bench.advance_ms(1000);
  CHECK(bench.admit(3, "api", "alice") == 1);  // 5 per minute reached
  const CheckOutcome& denied = bench.check("api", "alice");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().rule->window_ms == 60'000);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 58'000);
}

TEST_CASE("check: the answer shows the limit with the least remaining") {
  Bench bench(kTwoLimits);
  const CheckOutcome& first = bench.check("api", "bob");
  CHECK(first.allowed);
  CHECK(first.binding_limit().rule->limit == 2);
  CHECK(first.binding_limit().verdict.remaining == 1);
  CHECK(first.limit_count == 2);
}

TEST_CASE("check: keys are counted separately") {
  Bench bench(kTwoLimits);
  CHECK(bench.admit(5, "api", "alice") == 2);
  CHECK(bench.admit(5, "api", "bob") == 2);
}

TEST_CASE("check: cost counts as that many requests, and cost 0 only peeks") {
  Bench bench(R"(
    [[policy]]
    name = "bytes"
    limit = 10
    window = "1m"
  )");
  CHECK(bench.check("bytes", "k", 4).allowed);
  CHECK(bench.remaining("bytes", "k") == 6);
  CHECK(bench.remaining("bytes", "k") == 6);
  CHECK(bench.check("bytes", "k", 6).allowed);
  CHECK_FALSE(bench.check("bytes", "k", 1).allowed);
  CHECK(bench.check("bytes", "k", 0).allowed);
  CHECK(bench.store().stats().keys == 1);
}

TEST_CASE("check: a peek on a key never counted does not create it") {
  Bench bench(kTwoLimits);
  CHECK(bench.check("api", "ghost", 0).allowed);
  CHECK(bench.store().stats().keys == 0);
}

TEST_CASE("check: a denied check does not create keys for the limits that would admit it") {
  Bench bench(R"(
    [[policy]]
    name = "user"
    limit = 100
    window = "1m"
    [[policy]]
    name = "tenant"
    limit = 1
    window = "1m"
  )");
  CHECK(bench.check({{"user", "u1", "", "", 1}, {"tenant", "t1", "", "", 1}}).allowed);
  const std::uint64_t keys = bench.store().stats().keys;
  CHECK_FALSE(bench.check({{"user", "u2", "", "", 1}, {"tenant", "t1", "", "", 1}}).allowed);
  CHECK(bench.store().stats().keys == keys);
  CHECK(bench.remaining("user", "u2") == 100);
}

TEST_CASE("check: a compound check is admitted only if every item is, then all are counted") {
  Bench bench(R"(
    [[policy]]
    name = "user"
    limit = 3
    window = "1m"
    [[policy]]
    name = "tenant"
    limit = 4
    window = "1m"
  )");
  auto both = [&](const char* user) {
    return bench.check({{"user", user, "", "", 1}, {"tenant", "acme", "", "", 1}}).allowed;
  };
  CHECK(both("u1"));
  CHECK(both("u1"));
  CHECK(both("u1"));
  CHECK_FALSE(both("u1"));  // user limit
  CHECK(bench.remaining("tenant", "acme") == 1);
  CHECK(both("u2"));
  CHECK_FALSE(both("u3"));  // tenant limit: u3 is not counted
  CHECK(bench.remaining("user", "u3") == 3);
}

TEST_CASE("check: items naming the same counter add up their costs") {
  Bench bench(R"(
    [[policy]]
    name = "p"
    limit = 5
    window = "1m"
  )");
  const CheckOutcome& outcome = bench.check({{"p", "k", "", "", 2}, {"p", "k", "", "", 2}});
  CHECK(outcome.allowed);
  CHECK(outcome.limit_count == 1);
  CHECK(bench.remaining("p", "k") == 1);
  CHECK(bench.check({{"p", "k", "", "", 1}, {"p", "k", "", "", 1}}).error == Errc::ok);
  CHECK_FALSE(bench.check({{"p", "k", "", "", 1}, {"p", "k", "", "", 1}}).allowed);
}

TEST_CASE(
    "check: shadow mode never denies, reports what it would have done, counts as if enforcing") {
  Bench bench(R"(
    [[policy]]
    name = "trial"
    limit = 2
    window = "1m"
    shadow = true
  )");
  CHECK(bench.admit(5, "trial", "k") == 5);
  const CheckOutcome& over = bench.check("trial", "k");
  CHECK(over.allowed);
  CHECK(over.shadow_denied);
  CHECK(bench.remaining("trial", "k") == 0);
  // Counted only what enforcement would have admitted.
  const std::uint64_t ids[] = {over.binding_limit().counter_id};
  CHECK(bench.store().lock(ids).view(ids[0], 60'000, WallTime{1'800'000'000'000}).counts.current ==
        2);
}

TEST_CASE("check: an enforced policy denies even when a shadow policy in the same check admits") {
  Bench bench(R"(
    [[policy]]
    name = "enforced"
    limit = 1
    window = "1m"
    [[policy]]
    name = "trial"
    limit = 10
    window = "1m"
    shadow = true
  )");
  CHECK(bench.check({{"enforced", "k", "", "", 1}, {"trial", "k", "", "", 1}}).allowed);
  const CheckOutcome& denied =
      bench.check({{"enforced", "k", "", "", 1}, {"trial", "k", "", "", 1}});
  CHECK_FALSE(denied.allowed);
  CHECK_FALSE(denied.shadow_denied);
  CHECK(denied.binding_limit().policy->name == "enforced");
  CHECK(bench.remaining("trial", "k") == 9);
}

TEST_CASE("check: an unknown policy's message names at most 8 of the policies there are") {
  std::string toml;
  for (int i = 1; i <= 10; ++i) {
    toml += "[[policy]]\nname = \"p" + std::to_string(i) + "\"\nlimit = 1\nwindow = \"1s\"\n";
  }
  Bench bench(toml.c_str());
  CHECK(bench.check("p0", "k").error_message ==
        "unknown policy 'p0' (policies: p1, p2, p3, p4, p5, p6, p7, p8 and 2 more)");
}

TEST_CASE("check: errors name the problem and count nothing") {
  Bench bench(kTwoLimits);
  CHECK(bench.check("nope", "k").error == Errc::unknown_policy);
  CHECK(bench.check("nope", "k").error_message == "unknown policy 'nope' (policies: api)");
  CHECK(bench.check("api", "").error == Errc::empty_key);
  CHECK(bench.check("api", std::string(1025, 'k')).error == Errc::key_too_long);
  CHECK(bench.check("api", std::string(1024, 'k')).error == Errc::ok);
  const CheckOutcome& too_costly = bench.check("api", "k2", 3);
  CHECK(too_costly.error == Errc::cost_above_limit);
  CHECK(too_costly.error_message.find("limit 2 per 1s") != std::string::npos);
  CHECK(bench.check({}).error == Errc::malformed_request);
  std::vector<CheckItem> nine(9, CheckItem{"api", "k", "", "", 1});
  CHECK(bench.check(nine).error == Errc::too_many_items);
  CHECK(bench.remaining("api", "k2") == 2);
}

TEST_CASE("check: an unknown tier is answered with the default limits and flagged") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    limit = 3
    window = "1m"
    [policy.tiers.pro]
    limit = 30
  )");
  const CheckOutcome& outcome = bench.check("api", "k", 1, "platinum");
  CHECK(outcome.allowed);
  CHECK(outcome.tier_unknown);
  CHECK(outcome.binding_limit().rule->limit == 3);
  CHECK(bench.check("api", "k", 1, "pro").binding_limit().rule->limit == 30);
}

TEST_CASE("check: tiers share one count per key, so a caller keeps its count across an upgrade") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    limit = 3
    window = "1m"
    [policy.tiers.pro]
    limit = 5
  )");
  CHECK(bench.admit(3, "api", "k") == 3);
  CHECK(bench.check("api", "k", 1, "pro").allowed);
  CHECK(bench.check("api", "k", 1, "pro").allowed);
  CHECK_FALSE(bench.check("api", "k", 1, "pro").allowed);
}

TEST_CASE("check: endpoint limits are counted per endpoint, on top of the policy-wide limit") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    limit = 10
    window = "1m"
    [policy.endpoints."POST /login"]
    limit = 2
    [policy.endpoints."GET /items"]
    limit = 5
  )");
  CHECK(bench.check("api", "ip", 1, "", "POST /login").allowed);
  CHECK(bench.check("api", "ip", 1, "", "POST /login").allowed);
  CHECK_FALSE(bench.check("api", "ip", 1, "", "POST /login").allowed);
  for (int i = 0; i < 5; ++i) CHECK(bench.check("api", "ip", 1, "", "GET /items").allowed);
  CHECK_FALSE(bench.check("api", "ip", 1, "", "GET /items").allowed);
  CHECK(bench.remaining("api", "ip") == 3);  // 7 of the policy-wide 10 used
}

TEST_CASE("check: after a reload new limits apply at once to the counts already made") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    limit = 10
    window = "1m"
  )");
  CHECK(bench.admit(4, "api", "k") == 4);
  bench.reload(R"(
    [[policy]]
    name = "api"
    limit = 5
    window = "1m"
    algorithm = "fixed"
  )");
  CHECK(bench.admit(3, "api", "k") == 1);
  bench.reload(R"(
    [[policy]]
    name = "api"
    limit = 5
    window = "2m"
  )");
  // A new window length is a new counter.
  CHECK(bench.remaining("api", "k") == 5);
}

TEST_CASE("check: sliding window answer at a window boundary has exact retry_after") {
  Bench bench(R"(
    [[policy]]
    name = "s"
    limit = 4
    window = "10s"
  )");
  bench.set_ms(1'800'000'000'000 + 9'000);
  CHECK(bench.admit(5, "s", "k") == 4);
  bench.set_ms(1'800'000'000'000 + 10'000);
  // previous 4, current 0, elapsed 0: 4*(10000-e)/10000 + 1 <= 4 from e = 2500.
  const CheckOutcome& denied = bench.check("s", "k");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 2'500);
  bench.advance_ms(2'499);
  CHECK_FALSE(bench.check("s", "k").allowed);
  bench.advance_ms(1);
  CHECK(bench.check("s", "k").allowed);
}

TEST_CASE("an override counts on the same counters, and a cost above it is denied, not rejected") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n");
  CHECK(bench.admit(4, "api", "u") == 4);
  OverrideRecord half;
  half.scope = OverrideScope{"api", "", "", 0};
  half.kind = OverrideKind::factor;
  half.value = 500;
  half.expires_wall_ms = half.retain_until_wall_ms = 1'800'000'060'000;
  half.stamp = HlcStamp{1'800'000'000'000, 0, "node-a"};
  bench.adjust({half});
  // The four admitted before count against the new limit of 5.
  CHECK(bench.admit(3, "api", "u") == 1);
  const CheckOutcome& big = bench.check("api", "v", 7);
  CHECK(big.error == Errc::ok);
  CHECK_FALSE(big.allowed);
  CHECK(big.binding_limit().limit == 5);
  CHECK(big.binding_limit().rule->configured_limit == 10);
  CHECK(bench.check("api", "v", 11).error == Errc::cost_above_limit);
}

TEST_CASE(
    "check: an item's limit override replaces its rules' limit for that check, same counter") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\nalgorithm = \"fixed\"\n");
  CheckItem tight{"api", "u", "", "", 1};
  tight.limit_override = 3;
  CHECK(bench.check({tight}).allowed);
  CHECK(bench.check({tight}).binding_limit().limit == 3);
  CHECK(bench.check({tight}).binding_limit().verdict.remaining == 0);
  CHECK_FALSE(bench.check({tight}).allowed);
  // The same counter: the configured limit sees the three counted under the override.
  CHECK(bench.remaining("api", "u") == 7);
  CheckItem wide = tight;
  wide.limit_override = 1000;
  wide.cost = 500;  // above the configured 10, within the override: admitted
  const CheckOutcome& big = bench.check({wide});
  CHECK(big.error == Errc::ok);
  CHECK(big.allowed);
  CHECK(big.binding_limit().configured_limit == 1000);
}

TEST_CASE("check: a cost above an item's limit override can never be admitted: an error") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n");
  CheckItem item{"api", "u", "", "", 4};
  item.limit_override = 3;
  const CheckOutcome& outcome = bench.check({item});
  CHECK(outcome.error == Errc::cost_above_limit);
  CHECK(outcome.error_message.find("above the limit 3 per 1m") != std::string::npos);
  item.cost = 1;
  item.limit_override = drl::bounds::limit_max + 1;
  CHECK(bench.check({item}).error == Errc::invalid_argument);
  CHECK(bench.remaining("api", "u") == 10);
}

TEST_CASE("check: two items on one counter keep the stricter of an override and the rule") {
  Bench bench("[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\nalgorithm = \"fixed\"\n");
  CheckItem plain{"api", "u", "", "", 1};
  CheckItem tight = plain;
  tight.limit_override = 2;
  const CheckOutcome& outcome = bench.check({plain, tight});
  CHECK(outcome.limit_count == 1);
  CHECK(outcome.allowed);
  CHECK(outcome.binding_limit().limit == 2);
  CHECK(outcome.binding_limit().verdict.remaining == 0);
  CHECK_FALSE(bench.check({tight, plain}).allowed);
}

namespace {

constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kYearMs = 365 * kDayMs;

}  // namespace

TEST_CASE("check: a fixed 365-day window admits its limit, and waits are exact to the ms") {
  Bench bench(R"(
    [[policy]]
    name = "yearly"
    algorithm = "fixed"
    limit = 3
    window = "1y"
  )");
  bench.set_ms(57 * kYearMs + 100 * kDayMs);  // windows count from the Unix epoch
  CHECK(bench.admit(2, "yearly", "k") == 2);
  const CheckOutcome& last = bench.check("yearly", "k");
  REQUIRE(last.allowed);
  CHECK(last.binding_limit().verdict.remaining == 0);
  CHECK(last.binding_limit().verdict.reset_after_ms == 265 * kDayMs);
  bench.advance_ms(kDayMs + 1);
  const CheckOutcome& denied = bench.check("yearly", "k");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().rule->window_ms == 365 * 86'400'000ULL);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 264 * kDayMs - 1);
  bench.advance_ms(264 * kDayMs - 2);
  CHECK_FALSE(bench.check("yearly", "k").allowed);
  bench.advance_ms(1);  // the next year
  CHECK(bench.admit(4, "yearly", "k") == 3);
}

TEST_CASE("check: a sliding 365-day window weighs last year's count to the ms") {
  Bench bench(R"(
    [[policy]]
    name = "yearly"
    limit = 4
    window = "365d"
  )");
  bench.set_ms(57 * kYearMs + 364 * kDayMs);
  CHECK(bench.admit(5, "yearly", "k") == 4);
  bench.set_ms(58 * kYearMs);
  // previous 4, current 0, elapsed e: 4 * (Y - e) / Y + 1 <= 4 from e = Y / 4 (91.25 days).
  const CheckOutcome& denied = bench.check("yearly", "k");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().verdict.retry_after_ms == kYearMs / 4);
  CHECK(denied.binding_limit().verdict.reset_after_ms == kYearMs);
  bench.advance_ms(kYearMs / 4 - 1);
  CHECK_FALSE(bench.check("yearly", "k").allowed);
  bench.advance_ms(1);
  const CheckOutcome& admitted = bench.check("yearly", "k");
  CHECK(admitted.allowed);
  // Counted this year: gone from the estimate at the end of the next one.
  CHECK(admitted.binding_limit().verdict.reset_after_ms == 2 * kYearMs - kYearMs / 4);
  CHECK(admitted.binding_limit().verdict.remaining == 0);
}

TEST_CASE("check: an override names a 365-day limit by its window") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    algorithm = "fixed"
    limits = [{ limit = 100, window = "1m" }, { limit = 10, window = "1y" }]
  )");
  OverrideRecord yearly;
  yearly.scope = OverrideScope{"api", "", "", 365 * 86'400'000ULL};
  yearly.kind = OverrideKind::limit;
  yearly.value = 2;
  yearly.expires_wall_ms = yearly.retain_until_wall_ms = 1'800'000'060'000;
  yearly.stamp = HlcStamp{1'800'000'000'000, 0, "node-a"};
  bench.adjust({yearly});
  CHECK(bench.admit(5, "api", "u") == 2);
  const CheckOutcome& denied = bench.check("api", "u");
  CHECK(denied.binding_limit().rule->window_ms == 365 * 86'400'000ULL);
  CHECK(denied.binding_limit().limit == 2);
}

namespace {

// A key-scoped record as the override table holds it, in force for an hour from `now`.
OverrideRecord key_record(std::string key, OverrideKind kind, std::uint64_t value,
                          std::int64_t now_ms, std::int64_t stamp_ms = 0) {
  OverrideRecord r;
  r.scope = OverrideScope{"api", "", "", 0, std::move(key)};
  r.kind = kind;
  r.value = value;
  r.set_wall_ms = now_ms;
  r.expires_wall_ms = now_ms + 3'600'000;
  r.retain_until_wall_ms = r.expires_wall_ms;
  r.stamp = HlcStamp{stamp_ms == 0 ? now_ms : stamp_ms, 0, "n1"};
  return r;
}

// `drl key reset` as drld does it: marks from the engine, then a record that carries them.
OverrideRecord reset_record(CheckEngine& engine, const PolicySet& policies, WallTime now,
                            std::string key) {
  std::vector<ResetTarget> targets;
  std::string error;
  REQUIRE(engine.reset_targets(policies, now, CheckItem{"api", key, "", "", 0}, targets, error) ==
          Errc::ok);
  std::vector<ResetMark> marks;
  for (const ResetTarget& target : targets) marks.push_back(target.mark);
  OverrideRecord r = key_record(std::move(key), OverrideKind::reset, 0, now.unix_ms);
  r.scope.counts_reset = true;
  r.marks = std::move(marks);
  r.expires_wall_ms = now.unix_ms + reset_lasts_ms(r.marks, now);
  r.retain_until_wall_ms = r.expires_wall_ms;
  return r;
}

const char* const kOneMinute = R"(
[[policy]]
name = "api"
algorithm = "fixed"
limit = 10
window = "1m"
)";

}  // namespace

TEST_CASE("check: a key override's limit applies to that key only, and says why") {
  Bench bench(kOneMinute);
  bench.adjust({key_record("vip", OverrideKind::limit, 25, 1'800'000'000'000)});
  CHECK(bench.admit(30, "api", "vip") == 25);
  CHECK(bench.admit(30, "api", "anyone") == 10);
  const CheckOutcome& peek = bench.check("api", "vip", 0);
  CHECK(peek.binding_limit().limit == 25);
  CHECK(peek.binding_limit().adjustment != 0);
  CHECK(bench.check("api", "anyone", 0).binding_limit().adjustment == 0);
  // Above the configured limit, within the key's: a cost of 20 can be admitted (next window).
  bench.advance_ms(60'000);
  CHECK(bench.check("api", "vip", 20).allowed);
}

TEST_CASE("check: a key factor scales the limit in force for that key") {
  Bench bench(kOneMinute);
  bench.adjust({key_record("half", OverrideKind::factor, 500, 1'800'000'000'000)});
  CHECK(bench.admit(10, "api", "half") == 5);
}

TEST_CASE("check: a blocked key is denied with the block's end as its wait, whatever its count") {
  Bench bench(kOneMinute);
  bench.adjust({key_record("abuser", OverrideKind::block, 0, 1'800'000'000'000)});
  const CheckOutcome& denied = bench.check("api", "abuser");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 3'600'000);
  CHECK(denied.binding_limit().limit == 0);
  bench.advance_ms(1000);
  CHECK(bench.check("api", "abuser").binding_limit().verdict.retry_after_ms == 3'599'000);
  CHECK(bench.admit(3, "api", "neighbour") == 3);
}

TEST_CASE("check: of several overrides of one key, the most specific wins") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    algorithm = "fixed"
    limits = [{ limit = 10, window = "1s" }, { limit = 100, window = "1m" }]
  )");
  OverrideRecord everywhere = key_record("k", OverrideKind::limit, 50, 1'800'000'000'000);
  everywhere.scope.window_ms = 60'000;
  OverrideRecord second = key_record("k", OverrideKind::limit, 2, 1'800'000'000'000, 1);
  second.scope.window_ms = 1000;
  bench.adjust({everywhere, second});
  const CheckOutcome& peek = bench.check("api", "k", 0);
  for (std::size_t i = 0; i < peek.limit_count; ++i) {
    CHECK(peek.limits[i].limit == (peek.limits[i].rule->window_ms == 1000 ? 2u : 50u));
  }
}

TEST_CASE("check: a key reset forgets what was counted, and replayed counts do not bring it back") {
  Bench bench(kOneMinute);
  const WallTime now{1'800'000'000'000};
  CHECK(bench.admit(12, "api", "alice") == 10);
  // A peer's count of the key, as gossip carries it: origin 1 counted 4.
  const std::uint64_t id = bench.check("api", "alice", 0).binding_limit().counter_id;
  const std::uint64_t window_id = static_cast<std::uint64_t>(now.unix_ms) / 60'000;
  {
    const std::uint64_t ids[] = {id};
    auto locked = bench.store().lock(ids);
    locked.merge(id, 60'000, now, 1, window_id, 4);
  }
  CHECK(bench.remaining("api", "alice") == 0);

  CounterStore& store = bench.store();
  CheckEngine engine(store, 0);
  const auto configured = drl::config::parse_config(kOneMinute, "test");
  REQUIRE(configured.ok());
  const OverrideRecord reset = reset_record(engine, *configured->policies, now, "alice");
  REQUIRE(reset.marks.size() == 1);
  CHECK(reset.marks[0].current == 14);
  CHECK(reset.marks[0].window_id == window_id);
  CHECK(reset_lasts_ms(reset.marks, now) == 120'000);
  bench.adjust({reset});
  CHECK(bench.remaining("api", "alice") == 10);

  // The same absolute counts again, late or replayed: nothing changes.
  {
    const std::uint64_t ids[] = {id};
    auto locked = store.lock(ids);
    locked.merge(id, 60'000, now, 1, window_id, 4);
    locked.merge(id, 60'000, now, 1, window_id, 3);
  }
  CHECK(bench.remaining("api", "alice") == 10);
  // What is counted after the reset counts, here and from the peer.
  CHECK(bench.admit(3, "api", "alice") == 3);
  {
    const std::uint64_t ids[] = {id};
    auto locked = store.lock(ids);
    locked.merge(id, 60'000, now, 1, window_id, 6);
  }
  CHECK(bench.remaining("api", "alice") == 5);
  // The next window starts from zero, as it would have.
  bench.advance_ms(60'000);
  CHECK(bench.remaining("api", "alice") == 10);
}

TEST_CASE("check: a key reset of a sliding window forgets the previous window's weight too") {
  Bench bench(R"(
    [[policy]]
    name = "api"
    algorithm = "sliding"
    limit = 10
    window = "1m"
  )");
  CHECK(bench.admit(10, "api", "k") == 10);
  bench.advance_ms(60'000 + 30'000);  // half of the previous window still weighs: 5
  CHECK(bench.remaining("api", "k") == 5);
  const auto configured = drl::config::parse_config(R"(
    [[policy]]
    name = "api"
    algorithm = "sliding"
    limit = 10
    window = "1m"
  )",
                                                    "test");
  REQUIRE(configured.ok());
  CheckEngine engine(bench.store(), 0);
  const WallTime now{1'800'000'000'000 + 90'000};
  const OverrideRecord reset = reset_record(engine, *configured->policies, now, "k");
  REQUIRE(reset.marks.size() == 1);
  CHECK(reset.marks[0].previous == 10);
  CHECK(reset.marks[0].current == 0);
  bench.adjust({reset});
  CHECK(bench.remaining("api", "k") == 10);
  // In the next window, the reset window is the previous one: still forgotten.
  CHECK(bench.admit(4, "api", "k") == 4);
  bench.advance_ms(60'000);
  CHECK(bench.remaining("api", "k") == 8);  // half of the 4 counted after the reset
}

TEST_CASE("check: a key factor's note names the policy override it multiplies") {
  Bench bench(kOneMinute);
  OverrideRecord brownout = key_record("", OverrideKind::factor, 500, 1'800'000'000'000);
  brownout.reason = "brownout";
  OverrideRecord migration = key_record("ak", OverrideKind::factor, 2000, 1'800'000'000'000, 1);
  migration.reason = "migration";
  bench.adjust({brownout, migration});
  const CheckOutcome& peek = bench.check("api", "ak", 0);
  CHECK(peek.binding_limit().limit == 10);  // 10 x 0.5 x 2
  const std::string note = adjustment_text(peek.binding_limit(), bench.policies());
  CHECK(note.find("key override factor 2") == 0);
  CHECK(note.find("migration") != std::string::npos);
  CHECK(note.find("; the policy's: override factor 0.5") != std::string::npos);
  CHECK(note.find("brownout") != std::string::npos);
  // A key with no override of its own: the policy's note alone.
  const std::string plain =
      adjustment_text(bench.check("api", "other", 0).binding_limit(), bench.policies());
  CHECK(plain.find("override factor 0.5") == 0);
  CHECK(plain.find("the policy's") == std::string::npos);
}

TEST_CASE(
    "check: a cost above an override's limit, within the configured one, waits until the "
    "override ends") {
  Bench bench(kOneMinute);
  OverrideRecord incident = key_record("", OverrideKind::limit, 2, 1'800'000'000'000);
  bench.adjust({incident});
  const CheckOutcome& big = bench.check("api", "alice", 5);
  CHECK(big.error == Errc::ok);
  CHECK_FALSE(big.allowed);
  CHECK(big.binding_limit().verdict.retry_after_ms == 3'600'000);  // the override's end
  // A cost that fits the override waits for the window, as ever.
  CHECK(bench.check("api", "alice", 2).allowed);
  CHECK(bench.check("api", "alice", 1).binding_limit().verdict.retry_after_ms <= 60'000);

  // A key's override alike.
  Bench keyed(kOneMinute);
  keyed.adjust({key_record("bob", OverrideKind::limit, 3, 1'800'000'000'000)});
  CHECK(keyed.check("api", "bob", 4).binding_limit().verdict.retry_after_ms == 3'600'000);
}

TEST_CASE(
    "check: through key owners, a key's first check waits for the owners' totals, counting "
    "nothing, and its last look decides on what the node knows") {
  CounterStore store(StoreOptions{10'000, 8});
  CheckEngine engine(store, 0);
  TotalsRequests totals;
  engine.set_totals_requests(&totals);
  auto parsed = drl::config::parse_config(kTwoLimits, "test");
  REQUIRE(parsed.ok());
  const PolicySet& policies = *parsed->policies;
  const WallTime now{1'800'000'000'000};
  const std::vector<CheckItem> items{CheckItem{"api", "alice", "", "", 1}};
  CheckOutcome outcome;
  // In the mesh (no wait set), and for a caller that cannot hold a check: decided at once.
  engine.check(policies, now, items, outcome, true);
  CHECK(outcome.allowed);
  CHECK(outcome.totals_wait_ms == 0);
  totals.set_wait_ms(25);
  const std::vector<CheckItem> bob{CheckItem{"api", "bob", "", "", 1}};
  engine.check(policies, now, bob, outcome);
  CHECK(outcome.allowed);  // a caller that cannot wait
  // "alice" and "bob" were counted here: the owners tell this node their totals.
  engine.check(policies, now, items, outcome, true);
  CHECK(outcome.allowed);
  // "carol" is new here: held, nothing counted, both her counters asked for.
  const std::vector<CheckItem> carol{CheckItem{"api", "carol", "", "", 1}};
  engine.check(policies, now, carol, outcome, true);
  CHECK_FALSE(outcome.allowed);
  CHECK(outcome.totals_wait_ms == 25);
  CHECK(totals.take(100, now).size() == 2);
  // A cost of 0 counts nothing: it never waits.
  const std::vector<CheckItem> peek{CheckItem{"api", "carol", "", "", 0}};
  engine.check(policies, now, peek, outcome, true);
  CHECK(outcome.totals_wait_ms == 0);
  CHECK(outcome.binding_limit().verdict.remaining == 2);  // nothing was counted while held
  // Its last look: decided.
  engine.check(policies, now, carol, outcome, false);
  CHECK(outcome.allowed);
  CHECK(outcome.totals_wait_ms == 0);
}

TEST_CASE(
    "check: a check with a hard limit, or only shadow limits to learn of, never waits for totals") {
  CounterStore store(StoreOptions{10'000, 8});
  CheckEngine engine(store, 0);
  TotalsRequests totals;
  totals.set_wait_ms(25);
  engine.set_totals_requests(&totals);
  auto parsed = drl::config::parse_config(R"(
[[policy]]
name = "strict"
enforcement = "hard"
limit = 5
window = "1s"

[[policy]]
name = "trial"
shadow = true
limit = 5
window = "1s"
)",
                                          "test");
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
  const WallTime now{1'800'000'000'000};
  CheckOutcome outcome;
  const std::vector<CheckItem> hard{CheckItem{"strict", "alice", "", "", 1}};
  engine.check(*parsed->policies, now, hard, outcome, true);
  CHECK(outcome.totals_wait_ms == 0);
  CHECK(outcome.allowed);
  const std::vector<CheckItem> shadow{CheckItem{"trial", "alice", "", "", 1}};
  engine.check(*parsed->policies, now, shadow, outcome, true);
  CHECK(outcome.totals_wait_ms == 0);
  CHECK(totals.take(100, now).empty());
}
