#include <doctest/doctest.h>

#include <array>

#include "core/saved_counts.hpp"

using namespace drl::core;

namespace {

constexpr std::uint64_t kWindowMs = 1000;
constexpr std::int64_t kRetireAfterMs = 60'000;

StoreOptions small_store() {
  StoreOptions options;
  options.max_keys = 1024;
  options.shards = 4;
  return options;
}

void add(CounterStore& store, std::uint64_t id, WallTime now, std::uint32_t origin,
         std::uint32_t cost) {
  const std::array<std::uint64_t, 1> ids{id};
  store.lock(ids).add(id, kWindowMs, now, origin, cost);
}

void merge(CounterStore& store, std::uint64_t id, WallTime now, std::uint32_t origin,
           std::uint64_t window_id, std::uint32_t count) {
  const std::array<std::uint64_t, 1> ids{id};
  REQUIRE(store.lock(ids).merge(id, kWindowMs, now, origin, window_id, count));
}

WindowCounts counts_of(CounterStore& store, std::uint64_t id, WallTime now) {
  const std::array<std::uint64_t, 1> ids{id};
  return store.lock(ids).view(id, kWindowMs, now).counts;
}

std::uint32_t count_of(CounterStore& store, OriginTable& origins, const Origin& origin,
                       std::uint64_t id, WallTime now) {
  const auto index = origins.index_of(origin, MonoTime{0}, kRetireAfterMs);
  REQUIRE(index.has_value());
  const std::array<std::uint64_t, 1> ids{id};
  for (const OriginCounts& slot : store.lock(ids).origins(id, kWindowMs, now)) {
    if (slot.origin == *index) return slot.current;
  }
  return 0;
}

}  // namespace

TEST_CASE("saved counts: a restarted node reads every origin's counts back under that origin") {
  const WallTime before{10'500};
  CounterStore first(small_store());
  OriginTable first_origins(Origin{"a", 1}, 16);
  const auto peer = first_origins.index_of(Origin{"b", 7}, MonoTime{0}, kRetireAfterMs);
  REQUIRE(peer.has_value());
  add(first, 42, before, OriginTable::local_index, 30);
  merge(first, 42, before, *peer, 10, 12);
  add(first, 43, WallTime{9'900}, OriginTable::local_index, 5);  // now in the previous window

  const SavedCounts saved = snapshot_counts(first, first_origins, before);
  CHECK(saved.saver == Origin{"a", 1});
  CHECK(saved.saved_unix_ms == 10'500);
  CHECK(saved.counts.size() == 3);

  // The next run of node a: a new incarnation, an empty store.
  const WallTime after{10'900};
  CounterStore second(small_store());
  OriginTable second_origins(Origin{"a", 2}, 16);
  const RestoreOutcome outcome =
      restore_counts(second, second_origins, saved, MonoTime{0}, after, kRetireAfterMs);
  CHECK(outcome.restored == 3);
  CHECK(outcome.ended == 0);
  CHECK(outcome.dropped == 0);
  CHECK(outcome.origins == 2);
  CHECK(counts_of(second, 42, after).current == 42);
  CHECK(counts_of(second, 43, after).previous == 5);
  // The old run's counts are its own origin's, not the new incarnation's: a peer that sends the
  // same counts of a/1 raises nothing.
  CHECK(count_of(second, second_origins, Origin{"a", 1}, 42, after) == 30);
  CHECK(count_of(second, second_origins, Origin{"b", 7}, 42, after) == 12);
  const auto old_run = second_origins.index_of(Origin{"a", 1}, MonoTime{0}, kRetireAfterMs);
  merge(second, 42, after, *old_run, 10, 30);
  CHECK(counts_of(second, 42, after).current == 42);
  // And the new run counts in a slot of its own, from zero.
  add(second, 42, after, OriginTable::local_index, 1);
  CHECK(counts_of(second, 42, after).current == 43);
}

TEST_CASE("saved counts: restoring the same file twice counts nothing twice") {
  const WallTime now{5'200};
  CounterStore first(small_store());
  OriginTable first_origins(Origin{"a", 1}, 16);
  add(first, 7, now, OriginTable::local_index, 9);
  const SavedCounts saved = snapshot_counts(first, first_origins, now);
  CounterStore second(small_store());
  OriginTable second_origins(Origin{"a", 2}, 16);
  restore_counts(second, second_origins, saved, MonoTime{0}, now, kRetireAfterMs);
  restore_counts(second, second_origins, saved, MonoTime{0}, now, kRetireAfterMs);
  CHECK(counts_of(second, 7, now).current == 9);
}

TEST_CASE("saved counts: windows that ended while the node was down are dropped on restore") {
  CounterStore first(small_store());
  OriginTable first_origins(Origin{"a", 1}, 16);
  add(first, 1, WallTime{3'100}, OriginTable::local_index, 4);  // window 3
  add(first, 2, WallTime{4'100}, OriginTable::local_index, 6);  // window 4
  const SavedCounts saved = snapshot_counts(first, first_origins, WallTime{4'100});
  REQUIRE(saved.counts.size() == 2);

  CounterStore second(small_store());
  OriginTable second_origins(Origin{"a", 2}, 16);
  const WallTime later{5'300};  // window 5: window 4 still matters (sliding), window 3 not
  const RestoreOutcome outcome =
      restore_counts(second, second_origins, saved, MonoTime{0}, later, kRetireAfterMs);
  CHECK(outcome.restored == 1);
  CHECK(outcome.ended == 1);
  CHECK(counts_of(second, 2, later).previous == 6);
  CHECK(counts_of(second, 1, later).previous == 0);
}

TEST_CASE("saved counts: a count that claims the running incarnation or no origin is dropped") {
  SavedCounts saved;
  saved.saver = Origin{"a", 2};
  saved.origins = {Origin{"a", 2}};
  saved.counts = {SlotUpdate{1, kWindowMs, 5, 0, 3}, SlotUpdate{1, kWindowMs, 5, 9, 3}};
  CounterStore store(small_store());
  OriginTable origins(Origin{"a", 2}, 16);
  const RestoreOutcome outcome =
      restore_counts(store, origins, saved, MonoTime{0}, WallTime{5'000}, kRetireAfterMs);
  CHECK(outcome.restored == 0);
  CHECK(outcome.dropped == 2);
  CHECK(counts_of(store, 1, WallTime{5'000}).current == 0);
}

TEST_CASE("saved counts: a store holds at most saved_counts_max counts") {
  CounterStore store(small_store());
  CHECK(saved_counts_max(store) == 1024 * 5 * 2);
}

TEST_CASE("saved counts: restoring into a smaller store says how many keys did not fit") {
  const WallTime now{5'200};
  CounterStore first(small_store());
  OriginTable first_origins(Origin{"a", 1}, 16);
  for (std::uint64_t id = 1; id <= 100; ++id) add(first, id * 0x9e3779b97f4a7c15ULL, now, 0, 1);
  const SavedCounts saved = snapshot_counts(first, first_origins, now);
  REQUIRE(saved.counts.size() == 100);
  StoreOptions tiny;
  tiny.max_keys = 16;
  tiny.shards = 1;
  CounterStore second(tiny);
  OriginTable second_origins(Origin{"a", 2}, 16);
  const RestoreOutcome outcome =
      restore_counts(second, second_origins, saved, MonoTime{0}, now, kRetireAfterMs);
  CHECK(outcome.restored == 100);
  CHECK(outcome.keys_evicted == 100 - 16);
}
