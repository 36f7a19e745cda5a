// Cluster addresses: which configured peer addresses are this node's own.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/address.hpp"

using namespace drl::io;

namespace {

// A host with a loopback interface and one Ethernet interface of each family.
const std::vector<InterfaceAddress> kHost = {
    {"127.0.0.1", 8, true},
    {"::1", 128, true},
    {"192.0.2.11", 24, false},
    {"2001:db8::11", 64, false},
};

}  // namespace

TEST_CASE(
    "own address: a specific bind is this node's own address at that address and port "
    "only") {
  CHECK(is_own_address("192.0.2.11:7001", "192.0.2.11:7001", kHost));
  CHECK_FALSE(is_own_address("192.0.2.11:7002", "192.0.2.11:7001", kHost));
  CHECK_FALSE(is_own_address("127.0.0.1:7001", "192.0.2.11:7001", kHost));
  CHECK(is_own_address("[2001:db8::11]:7001", "[2001:db8::11]:7001", kHost));
  CHECK_FALSE(is_own_address("[::1]:7001", "[2001:db8::11]:7001", kHost));
}

TEST_CASE(
    "own address: a wildcard bind is reached at every interface address with its port, "
    "the whole loopback prefix included") {
  CHECK(is_own_address("192.0.2.11:7001", "0.0.0.0:7001", kHost));
  CHECK(is_own_address("127.0.0.1:7001", "0.0.0.0:7001", kHost));
  CHECK(is_own_address("127.0.0.2:7001", "0.0.0.0:7001", kHost));  // lo holds 127.0.0.0/8
  CHECK_FALSE(
      is_own_address("192.0.2.12:7001", "0.0.0.0:7001", kHost));  // same subnet, another host
  CHECK_FALSE(is_own_address("192.0.2.11:7002", "0.0.0.0:7001", kHost));
  CHECK_FALSE(is_own_address("127.0.0.1:7002", "0.0.0.0:7001", kHost));
  CHECK_FALSE(is_own_address("[2001:db8::11]:7001", "0.0.0.0:7001", kHost));  // another family

  CHECK(is_own_address("[2001:db8::11]:7001", "[::]:7001", kHost));
  CHECK(is_own_address("[::1]:7001", "[::]:7001", kHost));
  CHECK_FALSE(is_own_address("[2001:db8::12]:7001", "[::]:7001", kHost));
  CHECK_FALSE(is_own_address("[::2]:7001", "[::]:7001", kHost));
  // [::] receives IPv4 too, as mapped addresses.
  CHECK(is_own_address("[::ffff:192.0.2.11]:7001", "[::]:7001", kHost));
  CHECK(is_own_address("[::ffff:127.0.0.5]:7001", "[::]:7001", kHost));
  CHECK_FALSE(is_own_address("[::ffff:192.0.2.12]:7001", "[::]:7001", kHost));
}

TEST_CASE("own address: what is not a numeric address is not this node's") {
  CHECK_FALSE(is_own_address("localhost:7001", "0.0.0.0:7001", kHost));
  CHECK_FALSE(is_own_address("192.0.2.11", "0.0.0.0:7001", kHost));
  CHECK_FALSE(is_own_address("192.0.2.11:7001", "0.0.0.0:7001", {}));
}

TEST_CASE(
    "own address: this host's interfaces include the loopback addresses, with their "
    "prefixes") {
  const std::vector<InterfaceAddress> interfaces = interface_addresses();
  const auto loopback = std::find_if(interfaces.begin(), interfaces.end(),
                                     [](const InterfaceAddress& a) { return a.ip == "127.0.0.1"; });
  if (loopback == interfaces.end()) {
    MESSAGE("no 127.0.0.1 on this host (a network namespace with lo down?): not checked");
    return;
  }
  CHECK(loopback->loopback);
  CHECK(loopback->prefix_length == 8);
  CHECK(is_own_address("127.0.0.1:7001", "0.0.0.0:7001", interfaces));
  CHECK_FALSE(is_own_address("192.0.2.200:7001", "0.0.0.0:7001", interfaces));
}
