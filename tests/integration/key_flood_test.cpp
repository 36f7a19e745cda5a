// Key floods: one real drld, [bounds] max_keys = 200000, flooded with distinct keys (random IPv4
// strings) as fast as batches over several connections go, while a few abusers over their limit
// are checked now and then. The store must stay within its documented size, count every eviction,
// and never evict the abusers' counters: a flood of new keys must not reset an abuser's count.
//
// The memory budget asserted (docs/operations.md, "Memory" and "Key floods"):
//   store_bytes = shards * ((ceil(per_shard * 8 / 7) + 1) * 32 + 2 * max(1, per_shard / 16) * 24)
//     shards = min(store_shards, largest power of two <= max_keys), per_shard = max_keys / shards
//     (the tables, and the floors of evicted keys that each shard allocates when it first evicts)
//   store_memory_bytes (drl status) == store_bytes, exactly, once the store is full
//   VmRSS of drld, sampled every 50 ms, <= VmRSS before the flood + 2 * store_bytes + 8 MiB
// Twice the tables: a table that doubles holds its old and new arrays for a moment, and the
// arrays left behind by earlier doublings stay in the allocator's free lists (each shard's
// earlier arrays add up to less than its last one). 8 MiB: the connections' buffers (about
// 200 kB each here) and the allocator's per-thread arenas.
//
// Default suite: 1,000,000 keys. Suite 'slow' (DRL_FLOOD_KEYS=10000000): ten million, the numbers
// of docs/operations.md. Under a sanitizer (DRL_SANITIZED=1) the RSS bound is not asserted
// (shadow memory and quarantine are not drld's), only reported.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxKeys = 200'000;
constexpr std::uint64_t kStoreShards = 64;
constexpr std::uint64_t kLimit = 10;
constexpr std::size_t kBatchChecks = 1024;
constexpr std::size_t kFloodConnections = 3;
constexpr std::uint64_t kSlackBytes = 8ULL << 20;
const std::vector<std::string> kAbusers = {"abuser-1", "abuser-2", "abuser-3", "abuser-4"};

std::uint64_t env_uint(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtoull(value, nullptr, 10) : fallback;
}

// VmRSS of `pid` in bytes (0 if unreadable).
std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

// The store's tables when full, by the formula of docs/operations.md.
std::uint64_t store_bytes_full(std::uint64_t max_keys, std::uint64_t store_shards) {
  std::uint64_t shards = 1;
  while (shards * 2 <= max_keys && shards * 2 <= store_shards) shards *= 2;
  const std::uint64_t per_shard = max_keys / shards;
  const std::uint64_t floor_records = 2 * std::max<std::uint64_t>(1, per_shard / 16);
  return shards * (((per_shard * 8 + 6) / 7 + 1) * 32 + floor_records * 24);
}

// The i-th key of the flood: a distinct IPv4 address for every i below 2^32 (an odd multiplier
// is a bijection modulo 2^32), scattered over the address space.
std::string flood_key(std::uint64_t i) {
  const auto x = static_cast<std::uint32_t>(i * 2'654'435'761ULL + 0x9e37'79b9ULL);
  char text[16];
  std::snprintf(text, sizeof text, "%u.%u.%u.%u", x >> 24, (x >> 16) & 255, (x >> 8) & 255,
                x & 255);
  return text;
}

std::string flood_config() {
  return "[node]\nsocket = \"@SOCKET@\"\nworkers = 2\n\n[bounds]\nmax_keys = " +
         std::to_string(kMaxKeys) + "\nstore_shards = " + std::to_string(kStoreShards) +
         "\n\n[[policy]]\nname = \"api\"\nlimit = " + std::to_string(kLimit) +
         "\nwindow = \"1h\"\nalgorithm = \"sliding\"\n";
}

struct FloodResult {
  std::uint64_t checks = 0;
  std::uint64_t allowed = 0;
  std::uint64_t errors = 0;
  std::string first_error;
};

// Checks keys [next, total) in batches on one connection, taking batches from `next`.
void flood(const std::string& socket, std::atomic<std::uint64_t>& next, std::uint64_t total,
           FloodResult& result) {
  auto client = drl::Client::connect(socket, drl::Client::Options{30'000ms});
  if (!client.ok()) {
    result.errors = 1;
    result.first_error = client.error().message;
    return;
  }
  std::vector<std::string> keys(kBatchChecks);
  std::vector<drl::CheckRequest> checks(kBatchChecks);
  for (;;) {
    const std::uint64_t first = next.fetch_add(kBatchChecks);
    if (first >= total) return;
    const std::size_t count =
        static_cast<std::size_t>(std::min<std::uint64_t>(kBatchChecks, total - first));
    for (std::size_t i = 0; i < count; ++i) {
      keys[i] = flood_key(first + i);
      checks[i] = drl::CheckRequest{"api", keys[i]};
    }
    auto answers = client->check_batch(std::span<const drl::CheckRequest>(checks.data(), count));
    if (!answers.ok()) {
      ++result.errors;
      if (result.first_error.empty()) result.first_error = answers.error().message;
      return;
    }
    for (const auto& answer : answers.value()) {
      ++result.checks;
      if (!answer.ok()) {
        ++result.errors;
        if (result.first_error.empty()) result.first_error = answer.error().message;
      } else if (answer->allowed) {
        ++result.allowed;
      }
    }
  }
}

TEST_CASE(
    "key flood: distinct keys far beyond max_keys keep drld within its memory budget, "
    "every eviction is counted, and abusers over their limit stay denied") {
  const std::uint64_t total = env_uint("DRL_FLOOD_KEYS", 1'000'000);
  const bool sanitized = env_uint("DRL_SANITIZED", 0) != 0;
  TempDir dir;
  DaemonProcess drld(dir, with_config(flood_config()));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  // The abusers reach their limit and are denied from then on.
  drl::Client watcher = drld.connect();
  for (const std::string& abuser : kAbusers) {
    for (std::uint64_t i = 0; i < kLimit + 5; ++i) {
      auto decision = watcher.check(drl::CheckRequest{"api", abuser});
      REQUIRE(decision.ok());
      CHECK(decision->allowed == (i < kLimit));
    }
  }
  const std::uint64_t rss_before = rss_bytes(drld.pid());
  REQUIRE(rss_before > 0);

  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> done{false};
  std::vector<FloodResult> results(kFloodConnections);
  std::vector<std::thread> flooders;
  const auto started = SteadyClock::now();
  for (std::size_t i = 0; i < kFloodConnections; ++i) {
    flooders.emplace_back(flood, drld.socket_path(), std::ref(next), total, std::ref(results[i]));
  }
  // Meanwhile: RSS every 50 ms, the abusers every 250 ms.
  std::uint64_t rss_max = rss_before;
  std::uint64_t abuser_checks = 0;
  std::uint64_t abusers_allowed = 0;
  std::uint64_t abuser_errors = 0;
  std::thread monitor([&] {
    auto next_abuse = SteadyClock::now();
    while (!done.load()) {
      rss_max = std::max(rss_max, rss_bytes(drld.pid()));
      if (SteadyClock::now() >= next_abuse) {
        for (const std::string& abuser : kAbusers) {
          auto decision = watcher.check(drl::CheckRequest{"api", abuser});
          ++abuser_checks;
          if (!decision.ok()) {
            ++abuser_errors;
          } else if (decision->allowed) {
            ++abusers_allowed;
          }
        }
        next_abuse += 250ms;
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  for (std::thread& flooder : flooders) flooder.join();
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  done = true;
  monitor.join();
  rss_max = std::max(rss_max, rss_bytes(drld.pid()));

  FloodResult sum;
  for (const FloodResult& r : results) {
    sum.checks += r.checks;
    sum.allowed += r.allowed;
    sum.errors += r.errors;
    if (sum.first_error.empty()) sum.first_error = r.first_error;
  }
  const std::uint64_t tracked = drld.status_uint("keys_tracked");
  const std::uint64_t key_bound = drld.status_uint("key_bound");
  const std::uint64_t evicted = drld.status_uint("keys_evicted");
  const std::uint64_t evicted_denied = drld.status_uint("keys_evicted_while_denied");
  const std::uint64_t store_memory = drld.status_uint("store_memory_bytes");
  const std::uint64_t floors_applied = drld.status_uint("floors_applied");
  const std::uint64_t floors_lost = drld.status_uint("floors_lost");
  const std::uint64_t store_bytes = store_bytes_full(kMaxKeys, kStoreShards);
  const std::uint64_t budget = rss_before + 2 * store_bytes + kSlackBytes;
  std::printf(
      "key flood: %llu keys in %.1f s (%.0f keys/s) over %zu connections; max_keys %llu, "
      "key_bound %llu, keys_tracked %llu, keys_evicted %llu, keys_evicted_while_denied %llu; "
      "store_memory_bytes %llu (formula %llu); VmRSS before %llu kB, max %llu kB, budget %llu kB%s;"
      " abuser checks %llu, allowed %llu; floors_applied %llu, floors_lost %llu\n",
      static_cast<unsigned long long>(sum.checks), seconds,
      static_cast<double>(sum.checks) / seconds, kFloodConnections,
      static_cast<unsigned long long>(kMaxKeys), static_cast<unsigned long long>(key_bound),
      static_cast<unsigned long long>(tracked), static_cast<unsigned long long>(evicted),
      static_cast<unsigned long long>(evicted_denied),
      static_cast<unsigned long long>(store_memory), static_cast<unsigned long long>(store_bytes),
      static_cast<unsigned long long>(rss_before / 1024),
      static_cast<unsigned long long>(rss_max / 1024),
      static_cast<unsigned long long>(budget / 1024), sanitized ? " (sanitized: not asserted)" : "",
      static_cast<unsigned long long>(abuser_checks),
      static_cast<unsigned long long>(abusers_allowed),
      static_cast<unsigned long long>(floors_applied),
      static_cast<unsigned long long>(floors_lost));
  std::fflush(stdout);

  INFO("first error: " << sum.first_error);
  REQUIRE(sum.errors == 0);
  CHECK(sum.checks == total);
  CHECK(sum.allowed == total);  // every flood key is new: its first check is admitted
  // Every key ever inserted is tracked or was evicted; the 1h window expires none of them.
  CHECK(key_bound <= kMaxKeys);
  CHECK(tracked <= key_bound);
  CHECK(evicted == total + kAbusers.size() - tracked);
  CHECK(evicted_denied == 0);
  CHECK(store_memory == store_bytes);
  // No flood key comes back, and the abusers are never evicted: no floor applies. The floor
  // tables (390 per shard) hold the newest evictions; the flood pushed out nearly all others.
  CHECK(floors_applied == 0);
  CHECK(floors_lost > 0);
  CHECK(floors_lost <= evicted);
  if (!sanitized) CHECK(rss_max <= budget);
  // The abusers were denied every time, and still are, with their count intact.
  CHECK(abuser_errors == 0);
  CHECK(abuser_checks > 0);
  CHECK(abusers_allowed == 0);
  for (const std::string& abuser : kAbusers) {
    auto decision = watcher.check(drl::CheckRequest{"api", abuser});
    REQUIRE(decision.ok());
    CHECK_FALSE(decision->allowed);
    auto counters = watcher.inspect(drl::CheckRequest{"api", abuser, 0});
    REQUIRE(counters.ok());
    REQUIRE(counters->size() == 1);
    CHECK(counters->front().previous + counters->front().current >= kLimit);
  }
}

}  // namespace
}  // namespace drl::integration
