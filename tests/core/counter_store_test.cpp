#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <vector>

#include "core/algorithm.hpp"
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

void merge(CounterStore& store, std::uint64_t id, WallTime now, std::uint32_t origin,
           std::uint64_t window_id, std::uint32_t count) {
  const std::uint64_t ids[] = {id};
  store.lock(ids).merge(id, kWindowMs, now, origin, window_id, count);
}

bool tracked(CounterStore& store, std::uint64_t id, WallTime now) {
  const std::uint64_t ids[] = {id};
  return !store.lock(ids).origins(id, kWindowMs, now).empty();
}

// `checks` checks of cost 1 on `id` under a fixed-window limit, decided and counted as
// CheckEngine does (view, decide, add what is admitted); returns how many were admitted.
int admitted(CounterStore& store, std::uint64_t id, std::uint64_t limit, int checks, WallTime now) {
  int allowed = 0;
  for (int i = 0; i < checks; ++i) {
    const std::uint64_t ids[] = {id};
    auto locked = store.lock(ids);
    const CounterView seen = locked.view(id, kWindowMs, now);
    const LimitVerdict verdict = decide(LimitInput{Algorithm::fixed, limit, kWindowMs, seen.counts,
                                                   seen.elapsed_ms, seen.lead_ms, 1});
    if (verdict.allowed) {
      locked.add(id, kWindowMs, now, kLocal, 1);
      ++allowed;
    }
  }
  return allowed;
}

// Merges distinct ids of count `count` from `origin` into the store until `victim` is evicted,
// then `after` more: a flood of forged counter ids, each heavier than the victim so that the
// victim is the one the eviction's samples pick.
void flood_until_evicted(CounterStore& store, std::uint64_t victim, WallTime now,
                         std::uint32_t origin, std::uint32_t count, std::uint64_t after) {
  const std::uint64_t window = static_cast<std::uint64_t>(now.unix_ms) / kWindowMs;
  std::uint64_t n = 0;
  while (tracked(store, victim, now) && n < 1'000'000)
    merge(store, id_of(n++), now, origin, window, count);
  REQUIRE_FALSE(tracked(store, victim, now));
  for (std::uint64_t i = 0; i < after; ++i) merge(store, id_of(n++), now, origin, window, count);
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

TEST_CASE(
    "store: a key counted by forty origins (a large cluster) keeps each origin's slot apart, "
    "and an evicted key's slots, reused by another key, are found under that key only") {
  CounterStore store(StoreOptions{64, 1, true});  // 256 extra slots: room for a few such keys
  const WallTime now = at_ms(50'500);
  const std::uint64_t many = id_of(7'000'001);  // above the ids a flood uses
  const std::uint64_t other = id_of(7'000'002);
  const auto sorted_origins = [&](std::uint64_t id) {
    const std::uint64_t ids[] = {id};
    std::vector<OriginCounts> origins = store.lock(ids).origins(id, kWindowMs, now);
    std::sort(origins.begin(), origins.end(),
              [](const OriginCounts& a, const OriginCounts& b) { return a.origin < b.origin; });
    return origins;
  };
  for (int round = 1; round <= 3; ++round) {
    for (std::uint32_t origin = 1; origin <= 40; ++origin) {
      merge(store, many, now, origin, 50, origin * static_cast<std::uint32_t>(round));
    }
  }
  // Merging again found each origin's slot: one slot per origin, the largest count kept.
  std::vector<OriginCounts> origins = sorted_origins(many);
  REQUIRE(origins.size() == 40);
  for (std::uint32_t origin = 1; origin <= 40; ++origin) {
    CHECK(origins[origin - 1].origin == origin);
    CHECK(origins[origin - 1].current == origin * 3);
  }
  CHECK(view(store, many, now).counts.current == 3 * 40 * 41 / 2);
  // Evicted by heavier keys, then another key takes slots from the pool; the first comes back.
  flood_until_evicted(store, many, now, 41, 100'000, 0);
  for (std::uint32_t origin = 1; origin <= 40; ++origin) merge(store, other, now, origin, 50, 2);
  for (std::uint32_t origin = 1; origin <= 40; ++origin) merge(store, many, now, origin, 50, 1);
  for (const OriginCounts& slot : sorted_origins(other)) CHECK(slot.current == 2);
  origins = sorted_origins(many);
  CHECK(origins.size() == 40);
  for (const OriginCounts& slot : origins) CHECK(slot.current == 1);
  CHECK(store.stats().origin_slots_exhausted == 0);
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
  for (std::uint64_t n = 0; n < 4096; ++n) add(store, id_of(n), at_ms(1'000), 1);
  CHECK(store.stats().memory_bytes > 0);
  CHECK(store.stats().evictions == 0);
  for (std::uint64_t n = 4096; n < 3 * 8192; ++n) add(store, id_of(n), at_ms(1'000), 1);
  const StoreStats stats = store.stats();
  CHECK(stats.keys == 8192);
  CHECK(stats.evictions > 0);
  // Per full shard of 1024 keys: a table of ceil(1024 * 8 / 7) + 1 entries of 32 bytes, and,
  // once it evicts, 2 * (1024 / 16) floors of 24 bytes (docs/operations.md, "Memory").
  CHECK(stats.memory_bytes == 8 * ((1024 * 8 + 6) / 7 + 1) * 32 + 8 * 2 * (1024 / 16) * 24);
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

TEST_CASE(
    "store: a key whose count came only from a peer, evicted by a flood of other keys, admits no "
    "more than its limit when checked again") {
  CounterStore store(StoreOptions{1024, 1, true});
  const WallTime now = at_ms(60'500);
  const std::uint64_t key = id_of(5'000'000);
  merge(store, key, now, 1, 60, 5);  // a peer admitted the whole limit of 5
  CHECK(admitted(store, key, 5, 1, now) == 0);
  // A forged origin floods counter ids of count 6: the key, lighter, is evicted.
  flood_until_evicted(store, key, now, 9, 6, 16);
  CHECK(admitted(store, key, 5, 10, now) == 0);
  CHECK(view(store, key, now).counts.current == 5);
  CHECK(store.stats().floors_lost < store.stats().evictions);
}

TEST_CASE(
    "store: a key counted locally, evicted and checked again in its window, resumes from its "
    "count") {
  CounterStore store(StoreOptions{1024, 1});
  const WallTime now = at_ms(60'500);
  const std::uint64_t key = id_of(5'000'000);
  CHECK(admitted(store, key, 5, 3, now) == 3);
  // Heavier local keys push it out (legitimate key pressure, a standalone node).
  std::uint64_t n = 0;
  while (tracked(store, key, now) && n < 1'000'000) add(store, id_of(n++), now, 4);
  REQUIRE_FALSE(tracked(store, key, now));
  CHECK(admitted(store, key, 5, 10, now) == 2);
  CHECK(view(store, key, now).counts.current == 5);
  CHECK(store.stats().floors_applied == 1);
}

TEST_CASE(
    "store: when repair brings an evicted key's slots back, its count is not doubled, and its "
    "floor is never sent to peers") {
  CounterStore store(StoreOptions{1024, 1, true});
  const WallTime now = at_ms(60'500);
  const std::uint64_t key = id_of(5'000'000);
  merge(store, key, now, 1, 60, 4);
  flood_until_evicted(store, key, now, 9, 6, 16);
  // The peer's 4 are remembered: 6 more of the limit of 10, not 10.
  CHECK(admitted(store, key, 10, 20, now) == 6);
  CHECK(view(store, key, now).counts.current == 10);
  CHECK(store.stats().floors_applied == 1);
  // Anti-entropy from the peer restores its slot: the peer's 4 and the local 6, not 4 + 10.
  merge(store, key, now, 1, 60, 4);
  CHECK(view(store, key, now).counts.current == 10);
  CHECK(admitted(store, key, 10, 5, now) == 0);
  // Only the origins' own counts are listed and sent: the local 6 and the peer's 4.
  const std::uint64_t ids[] = {key};
  std::vector<OriginCounts> origins = store.lock(ids).origins(key, kWindowMs, now);
  std::sort(origins.begin(), origins.end(),
            [](const OriginCounts& a, const OriginCounts& b) { return a.origin < b.origin; });
  REQUIRE(origins.size() == 2);
  CHECK(origins[0].origin == kLocal);
  CHECK(origins[0].current == 6);
  CHECK(origins[1].origin == 1);
  CHECK(origins[1].current == 4);
  std::vector<SlotUpdate> changes;
  store.collect_changes(now, kLocal, changes, 1'000'000);
  CHECK(std::count(changes.begin(), changes.end(), SlotUpdate{key, kWindowMs, 60, kLocal, 6}) == 1);
  CHECK(std::count_if(changes.begin(), changes.end(),
                      [&](const SlotUpdate& u) { return u.counter_id == key; }) == 1);
  SweepCursor cursor;
  std::vector<SlotUpdate> all;
  while (!cursor.completed) store.collect_all(now, cursor, all, 1'000'000);
  std::vector<SlotUpdate> of_key;
  std::copy_if(all.begin(), all.end(), std::back_inserter(of_key),
               [&](const SlotUpdate& u) { return u.counter_id == key; });
  std::sort(of_key.begin(), of_key.end(),
            [](const SlotUpdate& a, const SlotUpdate& b) { return a.origin < b.origin; });
  CHECK(of_key ==
        std::vector<SlotUpdate>{{key, kWindowMs, 60, kLocal, 6}, {key, kWindowMs, 60, 1, 4}});
}

TEST_CASE("store: an evicted key's floor moves with its windows and ends with them") {
  CounterStore store(StoreOptions{1024, 1});
  const std::uint64_t key = id_of(5'000'000);
  add(store, key, at_ms(60'500), 3);
  std::uint64_t n = 0;
  while (tracked(store, key, at_ms(60'600)) && n < 1'000'000)
    add(store, id_of(n++), at_ms(60'600), 4);
  REQUIRE_FALSE(tracked(store, key, at_ms(60'600)));
  // Absent, the key reads as its floor, in the windows that follow too.
  CHECK(view(store, key, at_ms(60'900)).counts.current == 3);
  const CounterView next = view(store, key, at_ms(61'200));
  CHECK(next.counts.previous == 3);
  CHECK(next.counts.current == 0);
  // Counted again in the next window: the floor applies, and takes the local count along.
  add(store, key, at_ms(61'200), 1);
  CHECK(store.stats().floors_applied == 1);
  CHECK(view(store, key, at_ms(61'300)).counts.previous == 3);
  CHECK(view(store, key, at_ms(61'300)).counts.current == 1);
  const CounterView after = view(store, key, at_ms(62'100));
  CHECK(after.counts.previous == 1);
  CHECK(after.counts.current == 0);
  CHECK(view(store, key, at_ms(63'000)).counts.previous == 0);
}

TEST_CASE(
    "store: a flood that evicts far more keys than the floor table holds loses the oldest "
    "floors, and counts them") {
  // What remains: 1024 keys keep 128 floors, the newest. An evicted key checked again after
  // many more evictions starts from zero, as before floors (repair restores a peer's count).
  CounterStore store(StoreOptions{1024, 1, true});
  const WallTime now = at_ms(60'500);
  const std::uint64_t key = id_of(5'000'000);
  merge(store, key, now, 1, 60, 5);
  flood_until_evicted(store, key, now, 9, 6, 20 * 128);
  const StoreStats stats = store.stats();
  CHECK(stats.floors_lost > 0);
  CHECK(stats.floors_lost <= stats.evictions);
  CHECK(admitted(store, key, 5, 10, now) == 5);
}

TEST_CASE(
    "store: a key brought back by another peer's count reads as its floor until the first peer's "
    "repair, then as its slots") {
  CounterStore store(StoreOptions{1024, 1, true});
  const WallTime now = at_ms(60'500);
  const std::uint64_t key = id_of(5'000'000);
  merge(store, key, now, 1, 60, 5);
  flood_until_evicted(store, key, now, 9, 6, 0);
  merge(store, key, now, 2, 60, 1);  // another peer's count brings the key back
  CHECK(store.stats().floors_applied == 1);
  CHECK(view(store, key, now).counts.current == 5);
  merge(store, key, now, 1, 60, 5);  // the first peer's repair: 5 + 1, not 5 + 1 + 5
  CHECK(view(store, key, now).counts.current == 6);
  merge(store, key, now, 2, 60, 3);
  CHECK(view(store, key, now).counts.current == 8);
}

TEST_CASE(
    "store: a key with a floor that a peer's update moves 2^31 windows ahead reads as empty, "
    "without failing") {
  CounterStore store(StoreOptions{1024, 1, true});
  const WallTime now = at_ms(3'000'000'000'500);  // window 3,000,000,000: past 2^31
  const std::uint64_t key = id_of(5'000'000);
  merge(store, key, now, 1, 3'000'000'000, 5);
  flood_until_evicted(store, key, now, 9, 6, 0);
  merge(store, key, now, 2, 3'000'000'000, 1);
  REQUIRE(store.stats().floors_applied == 1);
  // A forged update far ahead: its 32-bit window reads as long past from now.
  merge(store, key, now, 2, 3'000'000'000 + (1ULL << 31) + 5, 1);
  CHECK(view(store, key, now).counts.current == 0);
  CHECK(view(store, key, now).counts.previous == 0);
  add(store, key, now, 1);
  merge(store, key, now, 1, 3'000'000'000, 5);
}

namespace {

constexpr std::uint64_t kDayMs = 86'400'000;
constexpr std::uint64_t kYearMs = 365 * kDayMs;  // "1y": 2^34.9 ms, far past 32 bits

// `offset_ms` into window `window` of a `window_ms` long window (aligned to the Unix epoch).
WallTime in_window(std::uint64_t window_ms, std::uint64_t window, std::uint64_t offset_ms) {
  return WallTime{static_cast<std::int64_t>(window * window_ms + offset_ms)};
}

}  // namespace

TEST_CASE("store: a 365-day window counts, rolls, merges and expires exactly") {
  CounterStore store(StoreOptions{1000, 4, true});
  const std::uint64_t key = id_of(1);
  const std::uint64_t ids[] = {key};
  const auto at = [](std::uint64_t window, std::uint64_t offset_ms) {
    return in_window(kYearMs, window, offset_ms);
  };
  store.lock(ids).add(key, kYearMs, at(57, 300 * kDayMs), kLocal, 3);
  CounterView seen = store.lock(ids).view(key, kYearMs, at(57, 300 * kDayMs + 1));
  CHECK(seen.counts.previous == 0);
  CHECK(seen.counts.current == 3);
  CHECK(seen.elapsed_ms == 300 * kDayMs + 1);
  // The next year sees this one's count as previous.
  seen = store.lock(ids).view(key, kYearMs, at(58, 5));
  CHECK(seen.counts.previous == 3);
  CHECK(seen.counts.current == 0);
  CHECK(seen.elapsed_ms == 5);
  store.lock(ids).add(key, kYearMs, at(58, 5), kLocal, 1);
  CHECK(store.lock(ids).merge(key, kYearMs, at(58, 6), 2, 58, 4));
  seen = store.lock(ids).view(key, kYearMs, at(58, 7));
  CHECK(seen.counts.previous == 3);
  CHECK(seen.counts.current == 5);
  // Collected for peers with the window's length and ids exact.
  std::vector<SlotUpdate> out;
  store.collect_changes(at(58, 7), kLocal, out, 100);
  CHECK(std::count(out.begin(), out.end(), SlotUpdate{key, kYearMs, 58, kLocal, 1}) == 1);
  CHECK(std::count(out.begin(), out.end(), SlotUpdate{key, kYearMs, 57, kLocal, 3}) == 1);
  CHECK(out.size() == 2);
  // Kept through the next year (a sliding window still reads it), dropped after.
  CHECK(store.expire(at(59, kYearMs - 1), 1000) == 0);
  CHECK(store.stats().keys == 1);
  CHECK(store.expire(at(60, 0), 1000) == 1);
  CHECK(store.stats().keys == 0);
}

TEST_CASE("store: every window length from 1 ms to 366 days comes back exact to peers") {
  const std::uint64_t lengths[] = {1,
                                   1000,
                                   (1ULL << 31) + 1,
                                   31 * kDayMs - 1,
                                   31 * kDayMs,  // the longest before 366 days: same value
                                   31 * kDayMs + 1000,
                                   4'294'968'000,  // just above 2^32 ms (49.7 days)
                                   40 * kDayMs + 1000,
                                   kYearMs,
                                   366 * kDayMs};
  CounterStore store(StoreOptions{1000, 4, true});
  const WallTime now{1'800'000'000'123};
  std::uint64_t n = 0;
  for (const std::uint64_t window_ms : lengths) {
    CAPTURE(window_ms);
    const std::uint64_t key = id_of(n++);
    const std::uint64_t ids[] = {key};
    store.lock(ids).add(key, window_ms, now, kLocal, 2);
    std::vector<SlotUpdate> changes;
    store.collect_changes(now, kLocal, changes, 100);
    const std::uint64_t window_id = 1'800'000'000'123ULL / window_ms;
    CHECK(changes == std::vector<SlotUpdate>{{key, window_ms, window_id, kLocal, 2}});
    SweepCursor cursor;
    std::vector<SlotUpdate> all;
    while (!cursor.completed) store.collect_all(now, cursor, all, 1000);
    CHECK(std::count(all.begin(), all.end(), SlotUpdate{key, window_ms, window_id, kLocal, 2}) ==
          1);
  }
}

TEST_CASE("store: an evicted key of a 365-day window reads as its floor into the next year") {
  CounterStore store(StoreOptions{1024, 1});
  const std::uint64_t key = id_of(5'000'000);
  const std::uint64_t key_ids[] = {key};
  const auto at = [](std::uint64_t window, std::uint64_t offset_ms) {
    return in_window(kYearMs, window, offset_ms);
  };
  store.lock(key_ids).add(key, kYearMs, at(57, 10 * kDayMs), kLocal, 3);
  std::uint64_t n = 0;
  while (!store.lock(key_ids).origins(key, kYearMs, at(57, 10 * kDayMs)).empty() && n < 1'000'000) {
    const std::uint64_t ids[] = {id_of(n++)};
    store.lock(ids).add(ids[0], kYearMs, at(57, 10 * kDayMs), kLocal, 4);
  }
  REQUIRE(store.lock(key_ids).origins(key, kYearMs, at(57, 10 * kDayMs)).empty());
  CHECK(store.lock(key_ids).view(key, kYearMs, at(57, 200 * kDayMs)).counts.current == 3);
  CHECK(store.lock(key_ids).view(key, kYearMs, at(58, 1)).counts.previous == 3);
  store.lock(key_ids).add(key, kYearMs, at(58, 1), kLocal, 1);
  CHECK(store.stats().floors_applied == 1);
  const CounterView seen = store.lock(key_ids).view(key, kYearMs, at(58, 2));
  CHECK(seen.counts.previous == 3);
  CHECK(seen.counts.current == 1);
  CHECK(store.lock(key_ids).view(key, kYearMs, at(60, 0)).counts.previous == 0);
}

TEST_CASE(
    "store: a key's count is the larger of its origins' sum and its own slot plus the owners' "
    "total of the others, never both") {
  CounterStore store(StoreOptions{1000, 1, false});
  const std::uint64_t key = id_of(1);
  const WallTime now = at_ms(5'500);
  add(store, key, now, 3);          // our own
  merge(store, key, now, 5, 5, 4);  // origin 5, heard straight
  CHECK(view(store, key, now).counts.current == 7);
  // The owners say the others counted 10 (origin 5's 4 among them): 3 + 10, not 3 + 4 + 10.
  merge(store, key, now, owners_total_origin, 5, 10);
  CHECK(view(store, key, now).counts.current == 13);
  add(store, key, now, 2);  // our own count moves both sums
  CHECK(view(store, key, now).counts.current == 15);
  // Origins heard straight that add up to more than the owners said: their sum.
  merge(store, key, now, 7, 5, 20);
  CHECK(view(store, key, now).counts.current == 29);
  // A late, smaller total changes nothing (slots keep their maximum).
  merge(store, key, now, owners_total_origin, 5, 6);
  CHECK(view(store, key, now).counts.current == 29);
}

TEST_CASE("store: the owners' total is no origin's count, and never collected for peers") {
  CounterStore store(StoreOptions{1000, 1, false});
  const std::uint64_t key = id_of(2);
  const WallTime now = at_ms(5'500);
  add(store, key, now, 1);
  merge(store, key, now, owners_total_origin, 5, 9);
  CHECK(view(store, key, now).counts.current == 10);
  std::vector<SlotUpdate> out;
  SweepCursor cursor;
  while (!cursor.completed) store.collect_all(now, cursor, out, 100);
  REQUIRE(out.size() == 1);
  CHECK(out.front().origin == kLocal);
  CHECK(out.front().count == 1);
}

namespace {

bool heard(CounterStore& store, std::uint64_t id, WallTime now) {
  const std::array<std::uint64_t, 1> ids{id};
  return store.lock(ids).heard_from_owners(id, kWindowMs, now);
}

}  // namespace

TEST_CASE(
    "store: a node hears of a key through its owners once it counted it in this window or the "
    "one before, or the owners' total of this window came in, even a zero") {
  CounterStore store(StoreOptions{1000, 1, false});
  const std::uint64_t counted = id_of(3);
  const std::uint64_t answered = id_of(4);
  CHECK_FALSE(heard(store, counted, at_ms(5'500)));  // never seen
  add(store, counted, at_ms(5'500), 1);
  CHECK(heard(store, counted, at_ms(5'500)));
  CHECK(heard(store, counted, at_ms(6'500)));  // the owners send totals to the previous window's
  CHECK_FALSE(heard(store, counted, at_ms(7'500)));
  // The owners said: nobody else counted it in window 5. It holds no count, yet it is news.
  merge(store, answered, at_ms(5'500), owners_total_origin, 5, 0);
  CHECK(heard(store, answered, at_ms(5'500)));
  CHECK(view(store, answered, at_ms(5'500)).counts.current == 0);
  // An answer speaks of its window only: the next one is not heard until asked again.
  CHECK_FALSE(heard(store, answered, at_ms(6'500)));
  // An answer about the window before is no answer about this one.
  merge(store, answered, at_ms(6'600), owners_total_origin, 5, 7);
  CHECK_FALSE(heard(store, answered, at_ms(6'600)));
  merge(store, answered, at_ms(6'600), owners_total_origin, 6, 2);
  CHECK(heard(store, answered, at_ms(6'600)));
  CHECK(view(store, answered, at_ms(6'600)).counts.current == 2);
  CHECK(view(store, answered, at_ms(6'600)).counts.previous == 7);
}
