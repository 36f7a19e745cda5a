// The store's merge is a G-counter per window (slot-wise max), keeping the two newest windows.
// Its laws are checked over seeded random updates, not printed.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "core/counter_store.hpp"

using namespace drl::core;

namespace {

constexpr std::uint32_t kWindowMs = 1000;
constexpr std::uint64_t kId = 0x0f0f'1234'5678'9999ULL;
const WallTime kNow{100'500};  // window 100

struct Update {
  std::uint32_t origin;
  std::uint64_t window;
  std::uint32_t count;
};

// (origin, window) -> count, for the windows the store keeps.
using State = std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint32_t>;

State apply(const std::vector<Update>& updates) {
  CounterStore store(StoreOptions{64, 1});
  const std::uint64_t ids[] = {kId};
  auto locked = store.lock(ids);
  for (const Update& u : updates) locked.merge(kId, kWindowMs, kNow, u.origin, u.window, u.count);
  State state;
  for (const OriginCounts& slot : locked.origins(kId, kWindowMs, kNow)) {
    if (slot.current != 0) state[{slot.origin, slot.window_id}] = slot.current;
    if (slot.previous != 0) state[{slot.origin, slot.window_id - 1}] = slot.previous;
  }
  return state;
}

std::vector<Update> random_updates(std::mt19937_64& rng, std::size_t n) {
  std::vector<Update> updates;
  for (std::size_t i = 0; i < n; ++i) {
    updates.push_back(Update{static_cast<std::uint32_t>(rng() % 5), 98 + rng() % 5,
                             static_cast<std::uint32_t>(rng() % 100)});
  }
  return updates;
}

std::vector<Update> concat(std::vector<Update> a, const std::vector<Update>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The reference: slot-wise max over all updates, restricted to the two newest windows seen
// (never older than now's previous window).
State reference(const std::vector<Update>& updates) {
  std::uint64_t newest = 0;
  for (const Update& u : updates) {
    if (u.window + 1 >= 100 && u.count > 0) newest = std::max(newest, u.window);
  }
  State state;
  for (const Update& u : updates) {
    if (u.window + 1 < 100 || u.window + 1 < newest || u.count == 0) continue;
    auto& slot = state[{u.origin, u.window}];
    slot = std::max(slot, u.count);
  }
  return state;
}

}  // namespace

TEST_CASE("gcounter: merge is idempotent (applying every update twice changes nothing)") {
  std::mt19937_64 rng(1);
  for (int trial = 0; trial < 500; ++trial) {
    const auto updates = random_updates(rng, 12);
    CHECK(apply(concat(updates, updates)) == apply(updates));
  }
}

TEST_CASE("gcounter: merge is commutative (any order of the same updates gives the same state)") {
  std::mt19937_64 rng(2);
  for (int trial = 0; trial < 500; ++trial) {
    auto updates = random_updates(rng, 12);
    const State first = apply(updates);
    std::shuffle(updates.begin(), updates.end(), rng);
    CHECK(apply(updates) == first);
    std::reverse(updates.begin(), updates.end());
    CHECK(apply(updates) == first);
  }
}

TEST_CASE("gcounter: merge is associative (grouping of delta batches does not matter)") {
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    const auto a = random_updates(rng, 5);
    const auto b = random_updates(rng, 5);
    const auto c = random_updates(rng, 5);
    CHECK(apply(concat(concat(a, b), c)) == apply(concat(a, concat(b, c))));
    CHECK(apply(concat(concat(a, b), c)) == apply(concat(concat(c, a), b)));
  }
}

TEST_CASE("gcounter: the state equals the slot-wise max of every update it keeps") {
  std::mt19937_64 rng(4);
  for (int trial = 0; trial < 500; ++trial) {
    const auto updates = random_updates(rng, 15);
    CHECK(apply(updates) == reference(updates));
  }
}

TEST_CASE("gcounter: a merge never lowers a kept window's total, nor loses a delta it keeps") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 300; ++trial) {
    CounterStore store(StoreOptions{64, 1});
    const std::uint64_t ids[] = {kId};
    auto locked = store.lock(ids);
    std::map<std::uint64_t, std::uint64_t> totals;  // window -> total before
    for (const Update& u : random_updates(rng, 20)) {
      const bool kept = locked.merge(kId, kWindowMs, kNow, u.origin, u.window, u.count);
      std::map<std::uint64_t, std::uint64_t> after;
      std::uint64_t slot_value = 0;
      for (const OriginCounts& slot : locked.origins(kId, kWindowMs, kNow)) {
        after[slot.window_id] += slot.current;
        after[slot.window_id - 1] += slot.previous;
        if (slot.origin == u.origin) {
          if (slot.window_id == u.window) slot_value = slot.current;
          if (slot.window_id - 1 == u.window) slot_value = slot.previous;
        }
      }
      if (kept) CHECK(slot_value >= u.count);
      for (const auto& [window, total] : after) {
        if (totals.count(window) != 0) CHECK(total >= totals[window]);
      }
      totals = after;
    }
  }
}
