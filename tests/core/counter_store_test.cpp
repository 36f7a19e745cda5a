#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/counter_store.hpp"

using namespace drl::core;

namespace {

constexpr std::uint32_t kWindowMs = 1000;
constexpr std::uint32_t kLocal = 0;

// Ids spread over the whole 64-bit range, as real (hashed) ids are.
std::uint64_t id_of(std::uint64_t n) {
  return (n + 1) * 0x9e3779b97f4a7c15ULL;
}

WallTime at_ms(std::int64_t ms) {
  return WallTime{ms};
}

void add(CounterStore& store, std::uint64_t id, WallTime now, std::uint32_t cost,
         std::uint32_t origin = kLocal) {
  const std::uint64_t ids[] = {id};
  store.lock(ids).add(id, kWindowMs, now, origin, cost);
}

CounterView view(CounterStore& store, std::uint64_t id, WallTime now) {
  const std::uint64_t ids[] = {id};
  return store.lock(ids).view(id, kWindowMs, now);
}

}  // namespace

TEST_CASE("store: an absent key reads as zero with the elapsed time of its window") {
  CounterStore store(StoreOptions{1000, 4});
  const CounterView seen = view(store, id_of(1), at_ms(5'250));
  CHECK(seen.counts.previous == 0);
  CHECK(seen.counts.current == 0);
  CHECK(seen.elapsed_ms == 250);
  CHECK(store.stats().keys == 0);
}

TEST_CASE("store: adds accumulate in the current window") {
  CounterStore store(StoreOptions{1000, 4});
  add(store, id_of(1), at_ms(10'000), 3);
  add(store, id_of(1), at_ms(10'999), 2);
  const CounterView seen = view(store, id_of(1), at_ms(10'999));
  CHECK(seen.counts.current == 5);
  CHECK(seen.counts.previous == 0);
  CHECK(store.stats().keys == 1);
  CHECK(store.stats().inserts == 1);
}

TEST_CASE("store: the next window sees this window's count as previous, the one after sees none") {
  CounterStore store(StoreOptions{1000, 4});
  add(store, id_of(7), at_ms(10'500), 4);
  CounterView next = view(store, id_of(7), at_ms(11'000));
  CHECK(next.counts.previous == 4);
  CHECK(next.counts.current == 0);
  add(store, id_of(7), at_ms(11'100), 1);
  next = view(store, id_of(7), at_ms(11'200));
  CHECK(next.counts.previous == 4);
  CHECK(next.counts.current == 1);
  const CounterView after = view(store, id_of(7), at_ms(13'000));
  CHECK(after.counts.previous == 0);
  CHECK(after.counts.current == 0);
}

TEST_CASE("store: expiry drops keys whose two windows are over and counts them") {
  CounterStore store(StoreOptions{1000, 4});
  for (std::uint64_t n = 0; n < 100; ++n) add(store, id_of(n), at_ms(10'000), 1);
  CHECK(store.stats().keys == 100);
  // Still needed by the sliding window during the next window.
  CHECK(store.expire(at_ms(11'999), 1'000'000) == 0);
  CHECK(store.stats().keys == 100);
  CHECK(store.expire(at_ms(12'000), 1'000'000) == 100);
  CHECK(store.stats().keys == 0);
  CHECK(store.stats().expirations == 100);
}

TEST_CASE("store: expiry works in bounded steps and finishes over several calls") {
  CounterStore store(StoreOptions{10'000, 1});
  for (std::uint64_t n = 0; n < 5000; ++n) add(store, id_of(n), at_ms(0), 1);
  std::size_t dropped = 0;
  int calls = 0;
  while (store.stats().keys > 0 && calls < 1000) {
    dropped += store.expire(at_ms(5'000), 512);
    ++calls;
  }
  CHECK(dropped == 5000);
  CHECK(calls > 5);
}

TEST_CASE("store: the key bound holds, and each key over it evicts one") {
  CounterStore store(StoreOptions{64, 1});
  for (std::uint64_t n = 0; n < 1000; ++n) add(store, id_of(n), at_ms(1'000), 1);
  const StoreStats stats = store.stats();
  CHECK(stats.keys == 64);
  CHECK(stats.key_bound == 64);
  CHECK(stats.evictions + stats.expirations == 1000 - 64);
  CHECK(stats.inserts == 1000);
}

TEST_CASE("store: a flood of new keys does not evict keys that were denied in their window") {
  CounterStore store(StoreOptions{64, 1});
  const WallTime now = at_ms(50'000);
  for (std::uint64_t n = 0; n < 8; ++n) {
    const std::uint64_t abuser = id_of(1'000'000 + n);
    const std::uint64_t ids[] = {abuser};
    auto locked = store.lock(ids);
    locked.add(abuser, kWindowMs, now, kLocal, 100);
    locked.mark_denied(abuser);
  }
  for (std::uint64_t n = 0; n < 20'000; ++n) add(store, id_of(n), now, 1);
  for (std::uint64_t n = 0; n < 8; ++n) {
    CAPTURE(n);
    CHECK(view(store, id_of(1'000'000 + n), now).counts.current == 100);
  }
  CHECK(store.stats().evictions_denied == 0);
}

TEST_CASE("store: a flood of light keys evicts the lightest, keeping heavy keys") {
  CounterStore store(StoreOptions{256, 1});
  const WallTime now = at_ms(50'000);
  for (std::uint64_t n = 0; n < 16; ++n) add(store, id_of(5'000'000 + n), now, 50);
  for (std::uint64_t n = 0; n < 5'000; ++n) add(store, id_of(n), now, 1);
  int kept = 0;
  for (std::uint64_t n = 0; n < 16; ++n)
    kept += view(store, id_of(5'000'000 + n), now).counts.current == 50;
  CHECK(kept == 16);
}

TEST_CASE("store: slots of several origins add up, each origin's own count is kept apart") {
  CounterStore store(StoreOptions{1000, 4});
  const WallTime now = at_ms(20'100);
  const std::uint64_t id = id_of(3);
  const std::uint64_t ids[] = {id};
  {
    auto locked = store.lock(ids);
    locked.add(id, kWindowMs, now, kLocal, 2);
    CHECK(locked.merge(id, kWindowMs, now, 1, 20, 5));
    CHECK(locked.merge(id, kWindowMs, now, 2, 20, 7));
    CHECK(locked.merge(id, kWindowMs, now, 2, 19, 9));  // origin 2's previous window
    const CounterView seen = locked.view(id, kWindowMs, now);
    CHECK(seen.counts.current == 14);
    CHECK(seen.counts.previous == 9);
    std::vector<OriginCounts> origins = locked.origins(id, kWindowMs, now);
    std::sort(origins.begin(), origins.end(),
              [](const OriginCounts& a, const OriginCounts& b) { return a.origin < b.origin; });
    REQUIRE(origins.size() == 3);
    CHECK(origins[0].current == 2);
    CHECK(origins[1].current == 5);
    CHECK(origins[2].current == 7);
    CHECK(origins[2].previous == 9);
    CHECK(origins[2].window_id == 20);
  }
}

TEST_CASE("store: merging an older count or the same count again changes nothing") {
  CounterStore store(StoreOptions{1000, 4});
  const WallTime now = at_ms(20'100);
  const std::uint64_t id = id_of(4);
  const std::uint64_t ids[] = {id};
  auto locked = store.lock(ids);
  CHECK(locked.merge(id, kWindowMs, now, 1, 20, 5));
  CHECK(locked.merge(id, kWindowMs, now, 1, 20, 3));
  CHECK(locked.merge(id, kWindowMs, now, 1, 20, 5));
  CHECK(locked.view(id, kWindowMs, now).counts.current == 5);
}

TEST_CASE("store: updates for windows no longer kept are dropped and counted") {
  CounterStore store(StoreOptions{1000, 4});
  const WallTime now = at_ms(20'100);
  const std::uint64_t id = id_of(5);
  const std::uint64_t ids[] = {id};
  auto locked = store.lock(ids);
  CHECK_FALSE(locked.merge(id, kWindowMs, now, 1, 18, 5));
  CHECK(locked.merge(id, kWindowMs, now, 1, 19, 5));
  CHECK(locked.view(id, kWindowMs, now).counts.previous == 5);
  CHECK(store.stats().merges_stale == 1);
}

TEST_CASE("store: counts from a node whose clock is ahead are read as of their window's start") {
  CounterStore store(StoreOptions{1000, 4});
  const std::uint64_t id = id_of(6);
  const std::uint64_t ids[] = {id};
  auto locked = store.lock(ids);
  locked.add(id, kWindowMs, at_ms(20'990), kLocal, 4);
  // A peer already in window 21 counted 1 there.
  CHECK(locked.merge(id, kWindowMs, at_ms(20'995), 1, 21, 1));
  const CounterView seen = locked.view(id, kWindowMs, at_ms(20'996));
  CHECK(seen.counts.previous == 4);
  CHECK(seen.counts.current == 1);
  CHECK(seen.elapsed_ms == 0);
  CHECK(seen.lead_ms == 4);
  // Local counting at 20'997 lands in the peer's later window too.
  locked.add(id, kWindowMs, at_ms(20'997), kLocal, 1);
  CHECK(locked.view(id, kWindowMs, at_ms(21'000)).counts.current == 2);
}

TEST_CASE("store: counts saturate at 2^32-1 per origin instead of wrapping") {
  CounterStore store(StoreOptions{1000, 4});
  const WallTime now = at_ms(1'000);
  add(store, id_of(9), now, 0xffff'fff0U);
  add(store, id_of(9), now, 0x100U);
  CHECK(view(store, id_of(9), now).counts.current == 0xffff'ffffULL);
}

TEST_CASE(
    "store: memory is reported and stays within the budget of 32 bytes per entry at 7/8 load") {
  CounterStore store(StoreOptions{8192, 8});
  for (std::uint64_t n = 0; n < 8192; ++n) add(store, id_of(n), at_ms(1'000), 1);
  const StoreStats stats = store.stats();
  CHECK(stats.keys <= 8192);
  CHECK(stats.memory_bytes > 0);
  // Tables sized for the bound at 7/8 load, plus one slot per shard.
  CHECK(stats.memory_bytes <= (8192 * 8 / 7 + 2 * 8) * 32);
}

TEST_CASE("store: changed keys are collected once, with their local counts, then not again") {
  CounterStore store(StoreOptions{1000, 4, true});
  const WallTime now = at_ms(30'500);
  add(store, id_of(1), now, 3);
  add(store, id_of(1), now, 2);
  add(store, id_of(2), now, 7);
  std::vector<SlotUpdate> out;
  CHECK(store.collect_changes(now, kLocal, out, 100) == 2);
  std::sort(out.begin(), out.end(),
            [](const SlotUpdate& a, const SlotUpdate& b) { return a.counter_id < b.counter_id; });
  std::vector<SlotUpdate> expected{{id_of(1), kWindowMs, 30, kLocal, 5},
                                   {id_of(2), kWindowMs, 30, kLocal, 7}};
  std::sort(expected.begin(), expected.end(),
            [](const SlotUpdate& a, const SlotUpdate& b) { return a.counter_id < b.counter_id; });
  CHECK(out == expected);
  out.clear();
  CHECK(store.collect_changes(now, kLocal, out, 100) == 0);
}

TEST_CASE("store: counts that moved to the previous window before collection are sent too") {
  CounterStore store(StoreOptions{1000, 4, true});
  add(store, id_of(1), at_ms(30'900), 4);
  add(store, id_of(1), at_ms(31'100), 1);  // rolls: the 4 is now window 30's, unsent
  std::vector<SlotUpdate> out;
  store.collect_changes(at_ms(31'100), kLocal, out, 100);
  REQUIRE(out.size() == 2);
  CHECK(std::count(out.begin(), out.end(), SlotUpdate{id_of(1), kWindowMs, 31, kLocal, 1}) == 1);
  CHECK(std::count(out.begin(), out.end(), SlotUpdate{id_of(1), kWindowMs, 30, kLocal, 4}) == 1);
  // Once sent, a later change sends only the window that changed.
  add(store, id_of(1), at_ms(31'200), 1);
  out.clear();
  store.collect_changes(at_ms(31'200), kLocal, out, 100);
  CHECK(out == std::vector<SlotUpdate>{{id_of(1), kWindowMs, 31, kLocal, 2}});
}

TEST_CASE("store: merged counts from peers are not collected as local changes") {
  CounterStore store(StoreOptions{1000, 4, true});
  const WallTime now = at_ms(30'500);
  const std::uint64_t ids[] = {id_of(1)};
  store.lock(ids).merge(id_of(1), kWindowMs, now, 5, 30, 9);
  std::vector<SlotUpdate> out;
  CHECK(store.collect_changes(now, kLocal, out, 100) == 0);
}

TEST_CASE("store: without change tracking nothing is collected") {
  CounterStore store(StoreOptions{1000, 4, false});
  add(store, id_of(1), at_ms(30'500), 1);
  std::vector<SlotUpdate> out;
  CHECK(store.collect_changes(at_ms(30'500), kLocal, out, 100) == 0);
}

TEST_CASE("store: a full sweep returns every live slot of every origin once, in bounded slices") {
  CounterStore store(StoreOptions{10'000, 8, true});
  const WallTime now = at_ms(40'500);
  for (std::uint64_t n = 0; n < 500; ++n) {
    add(store, id_of(n), now, 1);
    const std::uint64_t ids[] = {id_of(n)};
    store.lock(ids).merge(id_of(n), kWindowMs, now, 3, 39, 2);  // origin 3's previous window
  }
  add(store, id_of(9999), at_ms(10'000), 5);  // long expired: not sent
  SweepCursor cursor;
  std::vector<SlotUpdate> all;
  int calls = 0;
  do {
    std::vector<SlotUpdate> slice;
    store.collect_all(now, cursor, slice, 64);
    CHECK(slice.size() <= 64);
    all.insert(all.end(), slice.begin(), slice.end());
    ++calls;
  } while (!cursor.completed && calls < 1000);
  CHECK(cursor.completed);
  CHECK(calls >= 1000 / 64);
  CHECK(all.size() == 1000);
  CHECK(std::count_if(all.begin(), all.end(), [](const SlotUpdate& u) {
          return u.origin == 3 && u.window_id == 39 && u.count == 2;
        }) == 500);
}

TEST_CASE("store: when other origins fill the slot pool, local counts are still kept") {
  CounterStore store(StoreOptions{2, 1, true});  // 2 keys, 8 extra slots, 2 kept for local
  const WallTime now = at_ms(40'500);
  const std::uint64_t id = id_of(1);
  const std::uint64_t ids[] = {id};
  int kept = 0;
  for (std::uint32_t origin = 1; origin <= 12; ++origin) {
    kept += store.lock(ids).merge(id, kWindowMs, now, origin, 40, 1) ? 1 : 0;
  }
  CHECK(kept == 7);  // the inline slot and 6 extra ones
  CHECK(store.stats().origin_slots_exhausted == 5);
  add(store, id, now, 3);
  CHECK(view(store, id, now).counts.current == 7 + 3);
}
