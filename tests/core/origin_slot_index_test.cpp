#include "core/origin_slot_index.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <utility>

using namespace drl::core;

TEST_CASE("origin slot index: finds what was inserted, and nothing else") {
  OriginSlotIndex index;
  CHECK(index.find(7, 1) == 0);
  index.insert(7, 1, 10);
  index.insert(7, 2, 11);
  index.insert(8, 1, 12);
  CHECK(index.find(7, 1) == 10);
  CHECK(index.find(7, 2) == 11);
  CHECK(index.find(8, 1) == 12);
  CHECK(index.find(8, 2) == 0);
  CHECK(index.size() == 3);
}

TEST_CASE(
    "origin slot index: under random inserts and erases it agrees with a map, through growth "
    "and backward shifts") {
  OriginSlotIndex index;
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint32_t> model;
  std::mt19937_64 random(42);
  std::uint32_t next_slot = 1;
  for (int step = 0; step < 200'000; ++step) {
    // Few ids and origins, so that runs collide and erases shift cells back.
    const std::uint64_t id = random() % 512 + 1;
    const auto origin = static_cast<std::uint32_t>(random() % 64);
    const auto key = std::make_pair(id, origin);
    const auto it = model.find(key);
    if (it == model.end()) {
      index.insert(id, origin, next_slot);
      model.emplace(key, next_slot++);
    } else if (random() % 3 != 0) {
      index.erase(id, origin);
      model.erase(it);
    }
    if (step % 997 == 0) {
      for (const auto& [k, slot] : model) REQUIRE(index.find(k.first, k.second) == slot);
    }
  }
  CHECK(index.size() == model.size());
  for (const auto& [k, slot] : model) CHECK(index.find(k.first, k.second) == slot);
  for (std::uint64_t id = 513; id < 600; ++id) CHECK(index.find(id, 1) == 0);
}
