#include <doctest/doctest.h>

#include "core/origin_table.hpp"

using namespace drl::core;

TEST_CASE("origins: the local origin is index 0 and each other origin gets a stable index") {
  OriginTable table(Origin{"a", 1}, 8);
  CHECK(table.index_of(Origin{"a", 1}, MonoTime{0}, 1000) == 0u);
  const auto b = table.index_of(Origin{"b", 1}, MonoTime{0}, 1000);
  const auto b2 = table.index_of(Origin{"b", 2}, MonoTime{0}, 1000);
  REQUIRE(b.has_value());
  REQUIRE(b2.has_value());
  CHECK(*b != *b2);  // a restarted node is a new origin
  CHECK(table.index_of(Origin{"b", 1}, MonoTime{5}, 1000) == b);
  CHECK(table.origin_at(*b2)->incarnation == 2);
  CHECK_FALSE(table.origin_at(99).has_value());
}

TEST_CASE("origins: when full, only origins unseen for retire_after are reused; else dropped") {
  OriginTable table(Origin{"self", 1}, 3);
  const std::int64_t ms = 1'000'000;
  REQUIRE(table.index_of(Origin{"b", 1}, MonoTime{0}, 1000).has_value());
  REQUIRE(table.index_of(Origin{"c", 1}, MonoTime{500 * ms}, 1000).has_value());
  CHECK_FALSE(table.index_of(Origin{"d", 1}, MonoTime{900 * ms}, 1000).has_value());
  CHECK(table.full_drops() == 1);
  const auto d = table.index_of(Origin{"d", 1}, MonoTime{1001 * ms}, 1000);
  REQUIRE(d.has_value());
  CHECK(table.origin_at(*d)->node_id == "d");  // took b's index: b was idle longest
  CHECK(table.size() == 3);
}
