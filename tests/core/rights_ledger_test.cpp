#include <doctest/doctest.h>

#include <vector>

#include "core/rights_ledger.hpp"

using namespace drl::core;

namespace {
const RightsKey kKey{42, 1000, 7};
}

TEST_CASE(
    "rights ledger: a grant is an absolute total, so a duplicate or an older one adds nothing") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  CHECK(ledger.answered(kKey, 1, 5, 3) == 5);
  CHECK(ledger.answered(kKey, 1, 5, 3) == 0);  // duplicated
  CHECK(ledger.answered(kKey, 1, 3, 3) == 0);  // older, delivered late
  CHECK(ledger.answered(kKey, 1, 8, 3) == 3);
  CHECK(ledger.answered(kKey, 2, 2, 3) == 2);  // another donor
  CHECK(ledger.net(kKey) == 10);
}

TEST_CASE("rights ledger: what a node gives is deducted from its rights at once") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  CHECK(ledger.give(kKey, 4, 3) == 3);
  CHECK(ledger.give(kKey, 4, 2) == 5);
  CHECK(ledger.given_to(kKey, 4) == 5);
  CHECK(ledger.given_to(kKey, 5) == 0);
  CHECK(ledger.net(kKey) == -5);
  CHECK(ledger.stats().granted == 5);
}

TEST_CASE("rights ledger: one request per key waits at a time, and none once every peer refused") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  ledger.want(kKey, 100, 10);
  ledger.want(kKey, 100, 10);
  std::vector<RightsWant> wants = ledger.take_wants(16);
  REQUIRE(wants.size() == 1);
  CHECK(wants[0].asks == 0);
  ledger.want(kKey, 100, 10);  // the request is in flight: no second one
  CHECK(ledger.take_wants(16).empty());
  CHECK(ledger.answered(kKey, 1, 0, 3) == 0);  // the first peer had nothing to spare
  ledger.want(kKey, 100, 10);
  wants = ledger.take_wants(16);
  REQUIRE(wants.size() == 1);
  CHECK(wants[0].asks == 1);                   // the next peer in turn
  CHECK(ledger.answered(kKey, 2, 0, 3) == 0);  // nor had the second: every other member refused
  ledger.want(kKey, 100, 10);
  CHECK(ledger.take_wants(16).empty());
}

TEST_CASE(
    "rights ledger: a member that says twice it has nothing is one refusal; the refusals name "
    "their donors until rights move again") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  CHECK(ledger.answered(kKey, 1, 0, 3) == 0);
  CHECK(ledger.answered(kKey, 1, 0, 3) == 0);  // duplicated, or asked again
  CHECK(ledger.refused_by(kKey) == std::vector<std::uint32_t>{1});
  CHECK(ledger.want(kKey, 100, 10));  // one other member has not refused: still worth asking
  REQUIRE(ledger.take_wants(16).size() == 1);
  CHECK(ledger.answered(kKey, 2, 4, 3) == 4);  // the other one had some
  CHECK(ledger.refused_by(kKey).empty());      // rights moved: donor 1 may be asked again
  CHECK(ledger.answered(kKey, 1, 0, 3) == 0);
  CHECK(ledger.answered(kKey, 2, 4, 3) == 0);  // nothing more there
  CHECK(ledger.refused_by(kKey).size() == 2);
  CHECK_FALSE(ledger.want(kKey, 100, 10));  // every other member refused since the last grant
}

TEST_CASE("rights ledger: a request whose answer was lost goes out again after expire") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  ledger.want(kKey, 100, 10);
  CHECK(ledger.take_wants(16).size() == 1);
  ledger.expire(WallTime{7'500});
  ledger.want(kKey, 100, 10);
  CHECK(ledger.take_wants(16).size() == 1);
}

TEST_CASE("rights ledger: windows are forgotten once the window after them has ended") {
  RightsLedger ledger(RightsSplit{3, 0, 0});
  CHECK(ledger.answered(kKey, 1, 5, 3) == 5);
  ledger.expire(WallTime{8'999});  // window 7 ends at 8 s, window 8 at 9 s
  CHECK(ledger.size() == 1);
  ledger.expire(WallTime{9'001});
  CHECK(ledger.size() == 0);
  CHECK(ledger.net(kKey) == 0);
}

TEST_CASE(
    "rights ledger: a node awaiting its members has no share until they agree, then from the "
    "windows that begin after the agreement plus the clock skew") {
  RightsLedger ledger(RightsSplit{3, 0, 5'000});
  ledger.await_members(100);
  CHECK(ledger.awaiting_members());
  CHECK(rights_in_window(ledger.split(), 30, 1'000, 1000) == 0);  // far in the future
  ledger.members_agreed(WallTime{7'950});
  CHECK_FALSE(ledger.awaiting_members());
  CHECK(ledger.split().rights_from_unix_ms == 8'050);
  CHECK(rights_in_window(ledger.split(), 30, 8, 1000) == 0);
  CHECK(rights_in_window(ledger.split(), 30, 9, 1000) == 10);
  // Agreed before the start's bound: the start's bound holds.
  RightsLedger early(RightsSplit{3, 0, 5'000});
  early.await_members(100);
  early.members_agreed(WallTime{4'000});
  CHECK(early.split().rights_from_unix_ms == 5'000);
}
