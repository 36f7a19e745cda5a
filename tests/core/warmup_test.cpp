// The start-up hold's rule: hold until synced or until warmup_max after the start.
#include <doctest/doctest.h>

#include "core/warmup.hpp"

using namespace drl::core;

namespace {

MonoTime at_ms(std::int64_t ms) {
  return MonoTime{ms * ns_per_ms};
}

}  // namespace

TEST_CASE("warm-up: a starting node holds until a peer's sync arrives, and says how long") {
  Warmup warmup(at_ms(1000), 500);
  CHECK(warmup.holds(at_ms(1000)));
  CHECK(warmup.holds(at_ms(1120)));
  CHECK(warmup.held_ms(at_ms(1120)) == 120);
  warmup.synced(at_ms(1130));
  CHECK_FALSE(warmup.holds(at_ms(1130)));
  CHECK(warmup.synced_in_time());
  CHECK(warmup.held_ms(at_ms(5000)) == 130);
}

TEST_CASE("warm-up: without a sync the hold runs out at warmup_max, not later") {
  Warmup warmup(at_ms(1000), 500);
  CHECK(warmup.holds(at_ms(1499)));
  CHECK_FALSE(warmup.holds(at_ms(1500)));
  CHECK(warmup.deadline() == at_ms(1500));
  CHECK(warmup.held_ms(at_ms(9000)) == 500);
  // A sync that comes after the deadline changes nothing of what happened.
  warmup.synced(at_ms(2000));
  CHECK_FALSE(warmup.synced_in_time());
  CHECK(warmup.held_ms(at_ms(9000)) == 500);
}

TEST_CASE("warm-up: a warmup_max of 0 holds nothing") {
  const Warmup warmup(at_ms(1000), 0);
  CHECK_FALSE(warmup.holds(at_ms(1000)));
  CHECK(warmup.held_ms(at_ms(2000)) == 0);
}
