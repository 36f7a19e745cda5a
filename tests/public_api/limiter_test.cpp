// libdrl as an application uses it: only <drl/...> headers, only the public library.
#include <doctest/doctest.h>

#include <drl/drl.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* const kConfig = R"(
[[policy]]
name = "login"
limit = 3
window = "1m"
algorithm = "fixed"

[[policy]]
name = "api"
limit = 100
window = "1s"
[policy.tiers.pro]
limit = 1000
)";

constexpr std::int64_t kNoon = 1'800'000'000'000;

drl::Result<drl::Decision> login_at(drl::Limiter& limiter, std::int64_t ms, std::string_view key) {
  const drl::CheckRequest request{"login", key};
  return limiter.check_at(ms, std::span<const drl::CheckRequest>(&request, 1));
}

}  // namespace

TEST_CASE("embedded limiter: allows up to the limit, then denies with the time to wait") {
  auto limiter = drl::Limiter::from_toml(kConfig);
  REQUIRE(limiter.ok());
  for (int i = 0; i < 3; ++i) {
    const auto decision = login_at(limiter.value(), kNoon + 1000, "ip-1");
    REQUIRE(decision.ok());
    CHECK(decision->allowed);
    CHECK(decision->remaining == static_cast<std::uint64_t>(2 - i));
  }
  const auto denied = login_at(limiter.value(), kNoon + 1000, "ip-1");
  REQUIRE(denied.ok());
  CHECK_FALSE(denied->allowed);
  CHECK(denied->limit == 3);
  CHECK(denied->retry_after_ms == 59'000);
  CHECK(login_at(limiter.value(), kNoon + 60'000, "ip-1")->allowed);
}

TEST_CASE("embedded limiter: errors come back as values, not exceptions") {
  auto limiter = drl::Limiter::from_toml(kConfig);
  REQUIRE(limiter.ok());
  const auto unknown = limiter->check(drl::CheckRequest{"nope", "k"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == drl::Errc::unknown_policy);
  const auto empty = limiter->check(drl::CheckRequest{"login", ""});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().code == drl::Errc::empty_key);
  const auto bad = drl::Limiter::from_toml("[[policy]]\nname = \"x\"\n");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("no limit") != std::string::npos);
}

TEST_CASE("embedded limiter: a reload keeps the counts and applies the new limits") {
  auto limiter = drl::Limiter::from_toml(kConfig);
  REQUIRE(limiter.ok());
  CHECK(login_at(limiter.value(), kNoon, "ip-2")->allowed);
  CHECK(login_at(limiter.value(), kNoon, "ip-2")->allowed);
  REQUIRE(limiter
              ->reload_toml(R"(
    [[policy]]
    name = "login"
    limit = 2
    window = "1m"
  )")
              .ok());
  CHECK_FALSE(login_at(limiter.value(), kNoon, "ip-2")->allowed);
  const auto rejected = limiter->reload_toml("not toml at all [");
  REQUIRE_FALSE(rejected.ok());
  CHECK(rejected.error().code == drl::Errc::reload_failed);
  CHECK_FALSE(login_at(limiter.value(), kNoon, "ip-2")->allowed);
}

TEST_CASE("embedded limiter: tiers and details are reported") {
  auto limiter = drl::Limiter::from_toml(kConfig);
  REQUIRE(limiter.ok());
  const auto pro = limiter->check(drl::CheckRequest{"api", "key-1", 1, "pro"}, true);
  REQUIRE(pro.ok());
  CHECK(pro->limit == 1000);
  REQUIRE(pro->limits.size() == 1);
  CHECK(pro->limits[0].policy == "api");
  CHECK(pro->limits[0].algorithm == "sliding");
  CHECK(pro->limits[0].window_ms == 1000);
}

TEST_CASE("embedded limiter: many threads share one limit without losing or inventing counts") {
  auto limiter = drl::Limiter::from_toml(kConfig);
  REQUIRE(limiter.ok());
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (login_at(limiter.value(), kNoon, "shared")->allowed) allowed.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 20; ++i) REQUIRE(limiter->reload_toml(kConfig).ok());
  });
  for (auto& thread : threads) thread.join();
  CHECK(allowed.load() == 3);
  CHECK(limiter->tracked_keys() == 1);
}
