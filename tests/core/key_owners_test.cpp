// The ring that picks each key's owners under owner dissemination.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bounds.hpp"
#include "core/key_owners.hpp"

using namespace drl::core;

namespace {

std::vector<std::string> members_named(int count) {
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) out.push_back("node-" + std::to_string(i));
  return out;
}

std::uint64_t key(std::uint64_t n) {
  return (n + 1) * 0x9e3779b97f4a7c15ULL;
}

// The node ids of `id`'s owners.
std::vector<std::string> owners(const KeyOwners& ring, std::uint64_t id) {
  std::array<std::uint32_t, drl::bounds::owners_per_key> at{};
  const std::size_t count = ring.owners_of(id, at);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) out.push_back(ring.members()[at[i]]);
  return out;
}

}  // namespace

TEST_CASE("key owners: nodes that see the same members pick the same owners, in any order") {
  std::vector<std::string> members = members_named(10);
  KeyOwners one;
  CHECK(one.assign(members));
  std::reverse(members.begin(), members.end());
  KeyOwners other;
  CHECK(other.assign(members));
  for (std::uint64_t n = 0; n < 1000; ++n) CHECK(owners(one, key(n)) == owners(other, key(n)));
  CHECK_FALSE(one.assign(members));  // the same members: nothing to rebuild
}

TEST_CASE("key owners: a key has distinct owners, as many as there are members up to the bound") {
  KeyOwners ring;
  ring.assign({"solo"});
  CHECK(owners(ring, key(1)) == std::vector<std::string>{"solo"});
  ring.assign(members_named(5));
  for (std::uint64_t n = 0; n < 1000; ++n) {
    const std::vector<std::string> found = owners(ring, key(n));
    REQUIRE(found.size() == drl::bounds::owners_per_key);
    CHECK(found[0] != found[1]);
  }
}

TEST_CASE("key owners: a member that joins takes about its share of keys, moving no other key") {
  KeyOwners before;
  before.assign(members_named(20));
  KeyOwners after;
  std::vector<std::string> grown = members_named(20);
  grown.push_back("newcomer");
  after.assign(grown);
  int moved = 0;
  const int keys = 20'000;
  for (std::uint64_t n = 0; n < keys; ++n) {
    const std::string was = owners(before, key(n)).front();
    const std::string is = owners(after, key(n)).front();
    if (was == is) continue;
    ++moved;
    CHECK(is == "newcomer");  // a key moves only to the member that joined
  }
  // Its share is 1/21 of the keys, about 950: the ring's points make it uneven by tens of %.
  CHECK(moved > keys / 21 / 2);
  CHECK(moved < keys / 21 * 2);
}

TEST_CASE("key owners: the members' shares of first ownership add up to the whole, evenly") {
  KeyOwners ring;
  ring.assign(members_named(10));
  std::uint64_t sum = 0;
  for (std::uint32_t m = 0; m < 10; ++m) {
    const std::uint64_t share = ring.first_owner_permille(m);
    CHECK(share > 50);  // 100 each if even
    CHECK(share < 150);
    sum += share;
  }
  CHECK(sum >= 990);  // each share is rounded down
  CHECK(sum <= 1000);
  KeyOwners alone;
  alone.assign({"solo"});
  CHECK(alone.first_owner_permille(0) == 1000);
}
