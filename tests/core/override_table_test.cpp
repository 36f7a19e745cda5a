// The override register: last writer wins by hybrid logical clock, whatever the order records
// arrive in, whatever the nodes' clocks say; expiry and tombstones; bounds.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/hybrid_clock.hpp"
#include "core/override_table.hpp"

using namespace drl::core;

namespace {

constexpr std::int64_t kMinute = 60'000;
const WallTime kNoon{1'800'000'000'000};

OverrideScope free_tier() {
  return OverrideScope{"api", "free", "", 0};
}

WallTime at(std::int64_t ms_after_noon) {
  return WallTime{kNoon.unix_ms + ms_after_noon};
}

OverrideRecord set_on(OverrideTable& table, std::uint64_t factor_permille, WallTime now,
                      std::int64_t ttl_ms = 15 * kMinute) {
  std::string error;
  OverrideRecord record =
      table.set(free_tier(), OverrideKind::factor, factor_permille, ttl_ms, "incident", now, error);
  REQUIRE(error.empty());
  return record;
}

std::vector<std::pair<OverrideKind, std::uint64_t>> values(const OverrideTable& table,
                                                           WallTime now) {
  std::vector<std::pair<OverrideKind, std::uint64_t>> out;
  for (const OverrideRecord& r : table.active(now)) out.emplace_back(r.kind, r.value);
  return out;
}

}  // namespace

TEST_CASE("a hybrid clock never goes back and orders after what it has observed") {
  HybridClock clock("a");
  const HlcStamp first = clock.now(WallTime{1000});
  const HlcStamp same_ms = clock.now(WallTime{1000});
  const HlcStamp clock_went_back = clock.now(WallTime{900});
  CHECK(first < same_ms);
  CHECK(same_ms < clock_went_back);
  CHECK(clock_went_back.wall_ms == 1000);

  const HlcStamp remote{5000, 7, "b"};
  clock.observe(remote, WallTime{1001});
  const HlcStamp after = clock.now(WallTime{1002});
  CHECK(remote < after);
  CHECK(after.wall_ms == 5000);
  CHECK(after.logical == 8);
}

TEST_CASE("a record set on one node is active on another after a merge, until its TTL") {
  OverrideTable a("node-a");
  OverrideTable b("node-b");
  const OverrideRecord record = set_on(a, 500, kNoon, 10 * kMinute);
  CHECK(b.merge({record}, at(10)) == 1);
  CHECK(values(b, at(10)) == values(a, at(10)));
  CHECK(values(b, at(10)).size() == 1);
  CHECK(b.active(at(10 * kMinute - 1)).size() == 1);
  CHECK(b.active(at(10 * kMinute)).empty());
  CHECK(b.expire(at(10 * kMinute)));
  CHECK(b.stats().expired == 1);
  // Nothing it superseded could outlive it: no tombstone is needed.
  CHECK(b.records().empty());
}

TEST_CASE("concurrent sets converge on the same winner whatever the order of arrival") {
  OverrideTable a("node-a");
  OverrideTable b("node-b");
  OverrideTable c("node-c");
  // Written at the same wall millisecond on two nodes: the stamps tie on time, node id decides.
  const OverrideRecord from_a = set_on(a, 500, kNoon);
  const OverrideRecord from_b = set_on(b, 250, kNoon);
  a.merge({from_b}, at(1));
  b.merge({from_a}, at(1));
  c.merge({from_b, from_a}, at(1));
  const auto winner = values(a, at(2));
  CHECK(winner == values(b, at(2)));
  CHECK(winner == values(c, at(2)));
  REQUIRE(winner.size() == 1);
  CHECK(winner.front().second == 250);  // "node-b" > "node-a"

  // Merging again, or merging old copies, changes nothing.
  const std::uint64_t version = c.version();
  const std::uint64_t stale = c.stats().stale;
  CHECK(c.merge({from_a, from_b, from_a}, at(3)) == 0);
  CHECK(c.version() == version);
  CHECK(c.stats().stale == stale + 3);
}

TEST_CASE("a node whose clock is behind still writes after what it has seen") {
  OverrideTable ahead("node-ahead");    // its clock is 10 minutes fast
  OverrideTable behind("node-behind");  // its clock is right
  const OverrideRecord old_write = set_on(ahead, 500, at(10 * kMinute));
  behind.merge({old_write}, at(1));
  // The operator, a minute later, on the node with the right clock: this write is newer.
  const OverrideRecord new_write = set_on(behind, 900, at(kMinute));
  CHECK(old_write.stamp < new_write.stamp);
  ahead.merge({new_write}, at(10 * kMinute + kMinute));
  CHECK(values(ahead, at(kMinute + 1)) == values(behind, at(kMinute + 1)));
  CHECK(values(behind, at(kMinute + 1)).front().second == 900);
  // The old write, delivered again late, does not come back.
  CHECK(behind.merge({old_write}, at(2 * kMinute)) == 0);
  CHECK(values(behind, at(2 * kMinute)).front().second == 900);
}

TEST_CASE("a clear is a newer write: it wins over the set it clears, on every node") {
  OverrideTable a("node-a");
  OverrideTable b("node-b");
  const OverrideRecord set = set_on(a, 500, kNoon);
  b.merge({set}, at(1));
  CHECK(b.clear(free_tier(), at(2)));
  CHECK(b.active(at(3)).empty());
  a.merge(b.records(), at(4));
  CHECK(a.active(at(5)).empty());
  // The set arriving late again does not resurrect it.
  CHECK(b.merge({set}, at(6)) == 0);
  CHECK(b.active(at(7)).empty());
  // The tombstone is kept while the cleared record could still be in force somewhere.
  b.expire(at(15 * kMinute - 1));
  CHECK(b.records().size() == 1);
  b.expire(at(15 * kMinute));
  CHECK(b.records().empty());
  CHECK_FALSE(b.clear(free_tier(), at(16 * kMinute)));
}

TEST_CASE("clear_all tombstones every active record") {
  OverrideTable table("node-a");
  std::string error;
  table.set(OverrideScope{"api", "", "", 0}, OverrideKind::limit, 10, kMinute, "", kNoon, error);
  table.set(OverrideScope{"login", "", "", 0}, OverrideKind::factor, 100, kMinute, "", kNoon,
            error);
  CHECK(table.active(at(1)).size() == 2);
  CHECK(table.clear_all(at(1)) == 2);
  CHECK(table.active(at(2)).empty());
}

TEST_CASE("records outside the bounds are refused, and a full table refuses new scopes") {
  OverrideLimits limits;
  limits.records_max = 2;
  OverrideTable table("node-a", limits);
  std::string error;
  table.set(OverrideScope{"api", "", "", 0}, OverrideKind::factor, 0, kMinute, "", kNoon, error);
  CHECK(error.find("factor") != std::string::npos);
  table.set(OverrideScope{"api", "", "", 0}, OverrideKind::limit, 5, 8LL * 24 * 3600 * 1000, "",
            kNoon, error);
  CHECK(error.find("time to live") != std::string::npos);
  table.set(OverrideScope{"", "", "", 0}, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  CHECK(error.find("policy") != std::string::npos);
  table.set(OverrideScope{"api", "", "", 0}, OverrideKind::limit, 5, kMinute, std::string(300, 'x'),
            kNoon, error);
  CHECK(error.find("reason") != std::string::npos);
  constexpr std::uint64_t kDayMs = 24 * 3600 * 1000;
  table.set(OverrideScope{"api", "", "", 367 * kDayMs}, OverrideKind::limit, 5, kMinute, "", kNoon,
            error);
  CHECK(error.find("longer than 366 days") != std::string::npos);
  table.set(OverrideScope{"api", "", "", 31 * kDayMs + 1}, OverrideKind::limit, 5, kMinute, "",
            kNoon, error);
  CHECK(error.find("whole number of seconds") != std::string::npos);

  table.set(OverrideScope{"a", "", "", 0}, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  CHECK(error.empty());
  table.set(OverrideScope{"b", "", "", 0}, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  CHECK(error.empty());
  table.set(OverrideScope{"c", "", "", 0}, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  CHECK(error.find("full") != std::string::npos);
  CHECK(table.stats().table_full == 1);
  // A tombstone makes room: it is the first to go.
  CHECK(table.clear(OverrideScope{"a", "", "", 0}, at(1)));
  table.set(OverrideScope{"c", "", "", 0}, OverrideKind::limit, 5, kMinute, "", at(2), error);
  CHECK(error.empty());

  // From a peer: a stamp an hour ahead of our clock is refused, and counted.
  OverrideTable other("node-b");
  OverrideRecord future = table.active(at(3)).front();
  future.stamp.wall_ms = kNoon.unix_ms + 2 * 3600 * 1000;
  CHECK(other.merge({future}, at(3)) == 0);
  CHECK(other.stats().refused == 1);
}

TEST_CASE("override table: a block names a key, and a key override is a register of its own") {
  OverrideTable table("n1");
  std::string error;
  table.set(OverrideScope{"api"}, OverrideKind::block, 0, kMinute, "", kNoon, error);
  CHECK(error == "a block or a reset names a key");
  table.set(OverrideScope{"api", "", "", 0, std::string(257, 'k')}, OverrideKind::block, 0, kMinute,
            "", kNoon, error);
  CHECK(error.find("at most 256 bytes") != std::string::npos);

  table.set(OverrideScope{"api"}, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  REQUIRE(error.empty());
  table.set(OverrideScope{"api", "", "", 0, "bob"}, OverrideKind::block, 7, kMinute, "", kNoon,
            error);
  REQUIRE(error.empty());
  const std::vector<OverrideRecord> active = table.active(kNoon);
  REQUIRE(active.size() == 2);
  CHECK(std::count_if(active.begin(), active.end(), [](const OverrideRecord& r) {
          return r.scope.key == "bob" && r.kind == OverrideKind::block && r.value == 0;
        }) == 1);
  CHECK(table.clear(OverrideScope{"api", "", "", 0, "bob"}, kNoon));
  CHECK(values(table, kNoon) ==
        std::vector<std::pair<OverrideKind, std::uint64_t>>{{OverrideKind::limit, 5}});
}

TEST_CASE(
    "override table: a reset carries its marks, lives beside the key's override, and "
    "outlives clear --all") {
  OverrideTable table("n1");
  std::string error;
  const OverrideScope key_scope{"api", "", "", 0, "alice"};
  OverrideScope reset_scope = key_scope;
  reset_scope.counts_reset = true;
  // Without marks, or marks on an override: refused.
  table.set(reset_scope, OverrideKind::reset, 0, kMinute, "", kNoon, error);
  CHECK(error == "a reset carries the counts it forgets, and only a reset does");
  table.set(key_scope, OverrideKind::limit, 5, kMinute, "", kNoon, error,
            {ResetMark{1, 60'000, 1, 2, 3}});
  CHECK(error == "a reset carries the counts it forgets, and only a reset does");
  table.set(reset_scope, OverrideKind::reset, 0, kMinute, "", kNoon, error,
            {ResetMark{0, 60'000, 1, 2, 3}});
  CHECK(error == "a reset's counter is invalid");

  table.set(key_scope, OverrideKind::limit, 5, kMinute, "", kNoon, error);
  REQUIRE(error.empty());
  // A reset of a 30-day window lasts two of them: beyond an override's longest TTL.
  const ResetMark mark{42, 30 * 86'400'000ULL, 1, 7, 0};
  const OverrideRecord reset = table.set(reset_scope, OverrideKind::reset, 0, 60LL * 86'400'000,
                                         "ticket", kNoon, error, {mark});
  REQUIRE(error.empty());
  CHECK(reset.marks == std::vector<ResetMark>{mark});
  CHECK(table.active(kNoon).size() == 2);
  CHECK(table.clear_all(kNoon) == 1);
  const std::vector<OverrideRecord> left = table.active(kNoon);
  REQUIRE(left.size() == 1);
  CHECK(left[0].kind == OverrideKind::reset);

  // A peer's copy merges like any record; expired, it becomes a tombstone without its marks.
  OverrideTable peer("n2");
  CHECK(peer.merge(table.records(), kNoon) == 2);
  CHECK(peer.expire(WallTime{kNoon.unix_ms + 60LL * 86'400'000}));
  for (const OverrideRecord& r : peer.records()) CHECK(r.marks.empty());
}

TEST_CASE("override table: a reset lasts until the window after its marks' is over") {
  const std::vector<ResetMark> marks{{1, 60'000, 30'000'000, 5, 0}, {2, 1000, 1'800'000'000, 1, 0}};
  // The minute window 30,000,000 ends at 1,800,000,060,000; the one after it a minute later.
  CHECK(reset_lasts_ms(marks, WallTime{1'800'000'000'000}) == 120'000);
  CHECK(reset_lasts_ms({}, WallTime{1'800'000'000'000}) == 1);
}
