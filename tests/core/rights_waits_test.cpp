#include "core/rights_waits.hpp"

#include <doctest/doctest.h>

#include <vector>

#include "core/bounds.hpp"

namespace drl::core {
namespace {

CheckOutcome denied_short_of_rights(std::uint64_t wait_ms) {
  CheckOutcome outcome;
  outcome.allowed = false;
  outcome.denied_without_rights = true;
  outcome.rights_wait_ms = wait_ms;
  return outcome;
}

CheckOutcome held_for_totals(std::uint64_t wait_ms) {
  CheckOutcome outcome;
  outcome.allowed = false;
  outcome.totals_wait_ms = wait_ms;
  return outcome;
}

CheckOutcome admitted() {
  CheckOutcome outcome;
  outcome.allowed = true;
  return outcome;
}

constexpr MonoTime kStart{1'000'000'000};

}  // namespace

TEST_CASE("rights waits: a check with no wait allowed is answered at once") {
  RightsWaits waits;
  CHECK_FALSE(waits.begin(admitted(), kStart, 0).has_value());
  CHECK_FALSE(waits.begin(denied_short_of_rights(0), kStart, 0).has_value());
  CHECK(waits.waiting() == 0);
  CHECK(waits.stats().waits == 0);
}

TEST_CASE("rights waits: a waiting check looks again when an answer is merged or its wait ends") {
  RightsWaits waits;
  auto wait = waits.begin(denied_short_of_rights(5), kStart, 7);
  REQUIRE(wait.has_value());
  CHECK(waits.waiting() == 1);
  CHECK(wait->deadline == after_ms(kStart, 5));
  CHECK_FALSE(wait->looks_again(7, after_ms(kStart, 4)));
  CHECK(wait->looks_again(8, after_ms(kStart, 1)));  // an answer was merged
  CHECK(wait->looks_again(7, after_ms(kStart, 5)));  // the wait is over
}

TEST_CASE("rights waits: a check still short waits on until admitted, and the wait is counted") {
  RightsWaits waits;
  auto wait = waits.begin(denied_short_of_rights(5), kStart, 7);
  REQUIRE(wait.has_value());
  // An answer came but gave too little: it waits on, and looks again only after the next one.
  CHECK(waits.waits_on(*wait, denied_short_of_rights(5), after_ms(kStart, 1), 8));
  CHECK_FALSE(wait->looks_again(8, after_ms(kStart, 2)));
  CHECK_FALSE(waits.waits_on(*wait, admitted(), after_ms(kStart, 3), 9));
  CHECK(waits.waiting() == 0);
  const RightsWaitStats stats = waits.stats();
  CHECK(stats.waits == 1);
  CHECK(stats.waits_admitted == 1);
  CHECK(stats.wait_ns_total == 3 * ns_per_ms);
}

TEST_CASE("rights waits: at the end of its wait a check still short is denied") {
  RightsWaits waits;
  auto wait = waits.begin(denied_short_of_rights(5), kStart, 0);
  REQUIRE(wait.has_value());
  CHECK_FALSE(waits.waits_on(*wait, denied_short_of_rights(5), after_ms(kStart, 5), 0));
  CHECK(waits.stats().waits_admitted == 0);
  CHECK(waits.stats().wait_ns_total == 5 * ns_per_ms);
}

TEST_CASE("rights waits: beyond rights_waiters_max waiting, a check is denied at once, counted") {
  RightsWaits waits;
  std::vector<WaitingCheck> waiting;
  for (std::size_t i = 0; i < bounds::rights_waiters_max; ++i) {
    auto wait = waits.begin(denied_short_of_rights(5), kStart, 0);
    REQUIRE(wait.has_value());
    waiting.push_back(*wait);
  }
  CHECK_FALSE(waits.begin(denied_short_of_rights(5), kStart, 0).has_value());
  CHECK(waits.stats().waits_refused == 1);
  // A place frees when a wait ends, or its check is dropped.
  CHECK_FALSE(waits.waits_on(waiting.back(), admitted(), after_ms(kStart, 1), 1));
  const auto last = waits.begin(denied_short_of_rights(5), kStart, 0);
  REQUIRE(last.has_value());
  waits.abandon(*last);
  CHECK(waits.waiting() == bounds::rights_waiters_max - 1);
}

TEST_CASE(
    "rights waits: a key's first check held for its owners' totals waits until it is decided, "
    "then counts as a totals wait, answered if it ended before its deadline") {
  RightsWaits waits;
  auto wait = waits.begin(held_for_totals(25), kStart, 0);
  REQUIRE(wait.has_value());
  CHECK(wait->for_totals);
  CHECK(waits.waiting() == 1);
  // Woken by another key's answer, still held: it waits on.
  CHECK(waits.waits_on(*wait, held_for_totals(25), after_ms(kStart, 1), 1));
  // Even past its deadline while still held: the caller's next look decides it.
  CHECK(waits.waits_on(*wait, held_for_totals(25), after_ms(kStart, 30), 1));
  CHECK_FALSE(waits.waits_on(*wait, admitted(), after_ms(kStart, 2), 2));
  CHECK(waits.waiting() == 0);
  const RightsWaitStats stats = waits.stats();
  CHECK(stats.totals_waits == 1);
  CHECK(stats.totals_waits_answered == 1);
  CHECK(stats.totals_wait_ns_total == 2 * ns_per_ms);
  CHECK(stats.waits == 0);  // no grant was waited for
}

TEST_CASE("rights waits: a totals wait decided at its deadline is not answered") {
  RightsWaits waits;
  auto wait = waits.begin(held_for_totals(25), kStart, 0);
  REQUIRE(wait.has_value());
  CHECK_FALSE(waits.waits_on(*wait, admitted(), after_ms(kStart, 25), 0));
  CHECK(waits.stats().totals_waits == 1);
  CHECK(waits.stats().totals_waits_answered == 0);
}

TEST_CASE(
    "rights waits: beyond its bound of checks waiting for totals, a key's first check is decided "
    "at once, counted, while checks waiting for grants still find a place") {
  RightsWaits waits(1);
  auto first = waits.begin(held_for_totals(25), kStart, 0);
  REQUIRE(first.has_value());
  CHECK_FALSE(waits.begin(held_for_totals(25), kStart, 0).has_value());
  CHECK(waits.stats().totals_waits_refused == 1);
  CHECK(waits.begin(denied_short_of_rights(5), kStart, 0).has_value());
  waits.abandon(*first);
  CHECK(waits.begin(held_for_totals(25), kStart, 0).has_value());
}

}  // namespace drl::core
