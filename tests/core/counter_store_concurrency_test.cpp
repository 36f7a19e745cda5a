// Run under ThreadSanitizer in CI (scripts/test.sh builds a tsan variant of the unit suite).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"

using namespace drl::core;

namespace {

constexpr int kThreads = 4;

}  // namespace

TEST_CASE("concurrency: adds to one key from several threads are all counted") {
  CounterStore store(StoreOptions{1000, 8});
  const WallTime now{1'000'000};
  const std::uint64_t id = 0x1234'5678'9abc'def0ULL;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const std::uint64_t ids[] = {id};
      for (int i = 0; i < 20'000; ++i) store.lock(ids).add(id, 60'000, now, 0, 1);
    });
  }
  for (auto& thread : threads) thread.join();
  const std::uint64_t ids[] = {id};
  CHECK(store.lock(ids).view(id, 60'000, now).counts.current == kThreads * 20'000);
}

TEST_CASE("concurrency: a shared limit admits exactly its limit, however many threads check") {
  auto parsed = drl::config::parse_config(R"(
    [[policy]]
    name = "shared"
    limit = 1000
    window = "1h"
    algorithm = "fixed"
  )",
                                          "test");
  REQUIRE(parsed.ok());
  CounterStore store(StoreOptions{10'000, 16});
  CheckEngine engine(store, 0);
  const WallTime now{3'600'000 * 10 + 5};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      CheckOutcome outcome;
      const CheckItem item{"shared", "one-key", "", "", 1};
      for (int i = 0; i < 600; ++i) {
        engine.check(*parsed->policies, now, std::span<const CheckItem>(&item, 1), outcome);
        if (outcome.allowed) admitted.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(admitted.load() == 1000);
}

TEST_CASE(
    "concurrency: checks on many keys, compound checks across shards and expiry run together") {
  auto parsed = drl::config::parse_config(R"(
    [[policy]]
    name = "user"
    limits = [{ limit = 5, window = "1s" }, { limit = 50, window = "1m" }]
    [[policy]]
    name = "tenant"
    limit = 100
    window = "1s"
  )",
                                          "test");
  REQUIRE(parsed.ok());
  CounterStore store(StoreOptions{2048, 16});
  CheckEngine engine(store, 0);
  std::atomic<bool> done{false};
  std::thread sweeper([&] {
    std::int64_t t = 0;
    while (!done.load()) store.expire(WallTime{1'000'000 + (t++ % 5000)}, 256);
  });
  std::vector<std::thread> threads;
  std::atomic<std::uint64_t> answered{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CheckOutcome outcome;
      for (int i = 0; i < 20'000; ++i) {
        const std::string user = "user-" + std::to_string((i * 7 + t) % 3000);
        const std::string tenant = "tenant-" + std::to_string(i % 13);
        const CheckItem items[] = {{"user", user, "", "", 1}, {"tenant", tenant, "", "", 1}};
        engine.check(*parsed->policies, WallTime{1'000'000 + i / 4}, items, outcome);
        REQUIRE(outcome.error == drl::Errc::ok);
        answered.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  done.store(true);
  sweeper.join();
  CHECK(answered.load() == kThreads * 20'000);
  CHECK(store.stats().keys <= 2048);
}
