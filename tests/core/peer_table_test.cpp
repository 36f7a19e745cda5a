#include "core/peer_table.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace drl::core;

TEST_CASE("peer table: a peer stays where it is while others are added, erased and moved") {
  PeerTable table(1024);
  Peer* first = table.add("10.0.0.1:7000", true, MonoTime{});
  REQUIRE(first != nullptr);
  first->node_id = "n1";
  for (int i = 2; i <= 1000; ++i)
    REQUIRE(table.add("10.0.0." + std::to_string(i), false, MonoTime{}));
  table.erase(*table.find("10.0.0.2"));
  table.erase_if([](const Peer& peer) { return peer.address.ends_with("7"); });
  table.move_to(*table.find("10.0.0.3"), "10.0.1.3:7000");
  CHECK(table.find("10.0.0.1:7000") == first);
  CHECK(first->node_id == "n1");
  CHECK(table.find("10.0.0.2") == nullptr);
  CHECK(table.find("10.0.0.3") == nullptr);
  CHECK(table.find("10.0.1.3:7000") != nullptr);
  CHECK(table.find("10.0.0.17") == nullptr);
  CHECK(table.size() == 1000 - 1 - 100);
}

TEST_CASE("peer table: it holds at most peers_max, and erasing makes room again") {
  PeerTable table(2);
  REQUIRE(table.add("a:1", false, MonoTime{}));
  REQUIRE(table.add("b:1", false, MonoTime{}));
  CHECK(table.add("c:1", false, MonoTime{}) == nullptr);
  table.erase(*table.find("a:1"));
  CHECK(table.add("c:1", false, MonoTime{}) != nullptr);
  CHECK(table.size() == 2);
}

TEST_CASE("peer table: all() and at() give the peers in the order they were added") {
  PeerTable table(8);
  for (const char* address : {"c:1", "a:1", "b:1"}) table.add(address, false, MonoTime{});
  std::vector<std::string> seen;
  for (const Peer& peer : table.all()) seen.push_back(peer.address);
  CHECK(seen == std::vector<std::string>{"c:1", "a:1", "b:1"});
  CHECK(table.at(1).address == "a:1");
}
