#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/hard_rights.hpp"

using namespace drl::core;

TEST_CASE("rights split: a node's rank is its place among every member's address, sorted") {
  const std::vector<std::string> peers{"10.0.0.3:7000", "10.0.0.1:7000", "10.0.0.1:7000"};
  const RightsSplit split = rights_split_of("10.0.0.2:7000", peers, 0, 0);
  CHECK(split.members == 3);  // the duplicate counts once
  CHECK(split.rank == 1);
  // Listing itself among its peers changes nothing.
  const std::vector<std::string> with_self{"10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.1:7000"};
  CHECK(rights_split_of("10.0.0.2:7000", with_self, 0, 0).rank == 1);
}

TEST_CASE("rights split: a node that cannot place itself takes no share of the remainder") {
  const std::vector<std::string> peers{"10.0.0.3:7000"};
  const RightsSplit unresolved = rights_split_of("10.0.0.2:7000", peers, 1, 0);
  CHECK(unresolved.members == 3);  // the peer whose name did not resolve is still a member
  CHECK(unresolved.rank == RightsSplit::unranked);
  const RightsSplit no_address = rights_split_of("", peers, 0, 0);
  CHECK(no_address.members == 2);
  CHECK(no_address.rank == RightsSplit::unranked);
  CHECK(rights_in_window(no_address, 5, 10, 1000) == 2);
  CHECK(rights_in_window(unresolved, 5, 10, 1000) == 1);
}

TEST_CASE("rights: the shares of every member add up to the limit, never more") {
  for (std::uint32_t members = 1; members <= 12; ++members) {
    for (std::uint64_t limit = 1; limit <= 50; ++limit) {
      std::uint64_t total = 0;
      for (std::uint32_t rank = 0; rank < members; ++rank) {
        total += rights_in_window(RightsSplit{members, rank, 0}, limit, 7, 1000);
      }
      CHECK(total == limit);
      std::uint64_t unranked_total = 0;
      for (std::uint32_t node = 0; node < members; ++node) {
        unranked_total +=
            rights_in_window(RightsSplit{members, RightsSplit::unranked, 0}, limit, 7, 1000);
      }
      CHECK(unranked_total <= limit);
    }
  }
}

TEST_CASE("rights: none in a window that begins before the node's start plus the clock skew") {
  // Started at 10.5 s with a skew of 1 s: rights from 11.5 s, so from the window of 12 s on.
  const RightsSplit split{1, 0, 11'500};
  CHECK(first_window_with_rights(split, 1000) == 12);
  CHECK(rights_in_window(split, 10, 10, 1000) == 0);
  CHECK(rights_in_window(split, 10, 11, 1000) == 0);
  CHECK(rights_in_window(split, 10, 12, 1000) == 10);
  // A window that begins exactly then has rights.
  CHECK(first_window_with_rights(RightsSplit{1, 0, 12'000}, 1000) == 12);
}

TEST_CASE("rights split: nodes that list the same members name them with the same digest") {
  const std::vector<std::string> from_a = {"10.0.0.2:7000", "10.0.0.3:7000"};
  const std::vector<std::string> from_b = {"10.0.0.3:7000", "10.0.0.1:7000", "10.0.0.2:7000"};
  const RightsSplit a = rights_split_of("10.0.0.1:7000", from_a, 0, 0);
  const RightsSplit b = rights_split_of("10.0.0.2:7000", from_b, 0, 0);
  CHECK(a.members_digest == b.members_digest);
  CHECK(a.members_digest != 0);
  const std::vector<std::string> more = {"10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.4:7000"};
  CHECK(rights_split_of("10.0.0.1:7000", more, 0, 0).members_digest != a.members_digest);
  CHECK(rights_split_of("10.0.0.1:7000", from_a, 1, 0).members_digest != a.members_digest);
}
