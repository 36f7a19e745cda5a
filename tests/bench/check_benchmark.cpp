// Micro-benchmarks of one check in process (the core, no socket). Run:
//   meson test -C build --benchmark --suite bench --verbose
//   build/tests/bench/bench_check --benchmark_repetitions=10 --benchmark_report_aggregates_only
//
// - hot: 1000 keys, which stay in the CPU caches: the cost of the check itself;
// - large: 100,000 keys, spread over 64 MiB of store: most probes miss the caches;
// - two threads on keys in different shards (the design's promise: no shared lock, no shared
//   line written), and on keys in any shard (shards' lines then move between the cores).
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_id.hpp"

namespace {

constexpr std::size_t kShards = 64;

struct Fixture {
  Fixture() : store(drl::core::StoreOptions{1'000'000, kShards}), engine(store, 0) {
    auto parsed = drl::config::parse_config(R"(
      [[policy]]
      name = "api"
      limit = 1000000000
      window = "1m"
    )",
                                            "bench");
    policies = parsed->policies;
    const std::uint64_t seed = policies->find("api")->defaults.rules[0].counter_seed;
    for (int k = 0; k < 200'000; ++k) {
      std::string key = "user-" + std::to_string(k);
      // The store's shard of this key: the top 6 bits of its counter id.
      const std::size_t shard = drl::core::counter_id(seed, key) >> 58;
      (shard % 2 == 0 ? even_shards : odd_shards).push_back(key);
      all.push_back(std::move(key));
    }
  }
  drl::core::CounterStore store;
  drl::core::CheckEngine engine;
  std::shared_ptr<const drl::core::PolicySet> policies;
  std::vector<std::string> all;
  std::vector<std::string> even_shards;
  std::vector<std::string> odd_shards;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

void run(benchmark::State& state, const std::vector<std::string>& keys, std::size_t count,
         std::size_t first, std::size_t stride) {
  Fixture& f = fixture();
  drl::core::CheckOutcome outcome;
  const drl::core::WallTime now{1'800'000'000'000};
  std::size_t k = first;
  for (auto _ : state) {
    const drl::core::CheckItem item{"api", keys[k], "", "", 1};
    f.engine.check(*f.policies, now, std::span(&item, 1), outcome);
    benchmark::DoNotOptimize(outcome.allowed);
    k += stride;
    if (k >= count) k = first;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_check_hot_keys(benchmark::State& state) {
  run(state, fixture().all, 1000, static_cast<std::size_t>(state.thread_index()),
      static_cast<std::size_t>(state.threads()));
}
BENCHMARK(BM_check_hot_keys)->Threads(1)->UseRealTime();

void BM_check_large_key_set(benchmark::State& state) {
  run(state, fixture().all, 100'000, static_cast<std::size_t>(state.thread_index()),
      static_cast<std::size_t>(state.threads()));
}
BENCHMARK(BM_check_large_key_set)->Threads(1)->Threads(2)->UseRealTime();

// Each thread on its own half of the shards.
void BM_check_hot_keys_own_shards(benchmark::State& state) {
  const Fixture& f = fixture();
  run(state, state.thread_index() == 0 ? f.even_shards : f.odd_shards, 1000, 0, 1);
}
BENCHMARK(BM_check_hot_keys_own_shards)->Threads(1)->Threads(2)->UseRealTime();

// Both threads on keys of any shard.
void BM_check_hot_keys_any_shard(benchmark::State& state) {
  run(state, fixture().all, 2000, static_cast<std::size_t>(state.thread_index()), 2);
}
BENCHMARK(BM_check_hot_keys_any_shard)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
