// The requests for owners' totals that keys' first checks leave for the replication thread.
#include <doctest/doctest.h>

#include <cstdint>

#include "core/bounds.hpp"
#include "core/totals_requests.hpp"

using namespace drl::core;

namespace {

constexpr std::uint64_t kWindowMs = 1000;
constexpr std::int64_t kStartMs = 1'800'000'000'000;  // a window boundary

WallTime at(std::int64_t ms) {
  return WallTime{kStartMs + ms};
}

}  // namespace

TEST_CASE("totals requests: checks wait only once the replication says how long") {
  TotalsRequests requests;
  CHECK(requests.wait_ms() == 0);
  requests.set_wait_ms(25);
  CHECK(requests.wait_ms() == 25);
}

TEST_CASE(
    "totals requests: a key asked for once goes out once while its answer may still come, and "
    "again after that or in a new window") {
  TotalsRequests requests;
  requests.set_wait_ms(25);
  CHECK(requests.want(7, kWindowMs, at(0)));
  CHECK(requests.want(7, kWindowMs, at(5)));  // another check of the key, or a woken one
  CHECK(requests.want(8, kWindowMs, at(5)));
  const auto first = requests.take(100, at(6));
  REQUIRE(first.size() == 2);
  CHECK(first[0].counter_id == 7);
  CHECK(first[1].counter_id == 8);
  CHECK(requests.want(7, kWindowMs, at(20)));
  CHECK(requests.take(100, at(20)).empty());  // still on its way
  CHECK(requests.want(7, kWindowMs, at(30)));
  CHECK(requests.take(100, at(30)).size() == 1);  // the answer did not come: asked again
  CHECK(requests.want(7, kWindowMs, at(1001)));
  CHECK(requests.take(100, at(1001)).size() == 1);  // a new window: a new question
  CHECK(requests.wants_refused() == 0);
}

TEST_CASE("totals requests: take hands out at most what it is asked for, the rest later") {
  TotalsRequests requests;
  requests.set_wait_ms(25);
  for (std::uint64_t id = 1; id <= 5; ++id) CHECK(requests.want(id, kWindowMs, at(0)));
  CHECK(requests.take(3, at(0)).size() == 3);
  CHECK(requests.take(3, at(0)).size() == 2);
  CHECK(requests.take(3, at(0)).empty());
}

TEST_CASE("totals requests: beyond the bound a check is told to decide without them, counted") {
  TotalsRequests requests;
  requests.set_wait_ms(1000);
  for (std::uint64_t id = 1; id <= drl::bounds::totals_wants_max; ++id) {
    REQUIRE(requests.want(id, kWindowMs, at(0)));
  }
  CHECK_FALSE(requests.want(drl::bounds::totals_wants_max + 1, kWindowMs, at(0)));
  CHECK(requests.wants_refused() == 1);
  // Once their waits are over they are forgotten, and there is room again.
  requests.take(drl::bounds::totals_wants_max, at(1000));
  CHECK(requests.want(drl::bounds::totals_wants_max + 1, kWindowMs, at(1000)));
}

TEST_CASE("totals requests: each merged answer moves the count waiting checks watch") {
  TotalsRequests requests;
  const std::uint64_t before = requests.answers();
  requests.answered();
  requests.answered();
  CHECK(requests.answers() == before + 2);
}

TEST_CASE(
    "totals requests: a key asked again is forgotten only once its latest request is over, and a "
    "wall clock that steps back holds up no request") {
  TotalsRequests requests;
  requests.set_wait_ms(25);
  REQUIRE(requests.want(1, kWindowMs, at(0)));
  REQUIRE(requests.take(10, at(0)).size() == 1);
  // Asked again once the first request is over: a new request, which take() must not forget
  // when it drops the first one's record.
  REQUIRE(requests.want(1, kWindowMs, at(30)));
  REQUIRE(requests.take(10, at(30)).size() == 1);
  CHECK(requests.want(1, kWindowMs, at(40)));
  CHECK(requests.take(10, at(40)).empty());  // still on its way: not asked again
  // The clock steps back 100 ms, within the same window: a request made at the later time is
  // over (kept, it would hold up the ones after it), and the key is asked anew.
  REQUIRE(requests.want(5, kWindowMs, at(500)));
  REQUIRE(requests.take(10, at(500)).size() == 1);
  CHECK(requests.take(10, at(400)).empty());
  CHECK(requests.want(5, kWindowMs, at(410)));
  CHECK(requests.take(10, at(410)).size() == 1);
  // A request made a moment after the round's clock was read (by a check while the round ran)
  // is on its way, not from a clock that stepped back: not asked again.
  REQUIRE(requests.want(7, kWindowMs, at(601)));
  REQUIRE(requests.take(10, at(600)).size() == 1);
  CHECK(requests.want(7, kWindowMs, at(602)));
  CHECK(requests.take(10, at(602)).empty());
}
