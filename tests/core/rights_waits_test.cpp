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
  CHECK(waits.begin(denied_short_of_rights(5), kStart, 0).has_value());
  waits.abandon();
  CHECK(waits.waiting() == bounds::rights_waiters_max - 1);
}

}  // namespace drl::core
