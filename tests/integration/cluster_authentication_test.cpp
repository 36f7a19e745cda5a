// Cluster authentication on real drld processes: a shared key admits a node, another key or
// none does not; forged, corrupted and replayed datagrams are dropped and counted and never
// change a count; and the key rotation procedure that follows from the code (the first key
// signs, every configured key is accepted, keys change only at a restart) keeps the cluster
// connected at every step. docs/replication.md describes the procedure.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <map>

#include "cluster_harness.hpp"

namespace drl::integration {
namespace {

constexpr const char* kTiming =
    "gossip_interval = \"5ms\"\nheartbeat_interval = \"50ms\"\nsuspect_after = \"400ms\"\n"
    "down_after = \"600ms\"\n";
constexpr const char* kPolicy =
    "[[policy]]\nname = \"p\"\nlimit = 1000000\nwindow = \"1h\"\nalgorithm = \"fixed\"\n";

// 64 hex digits: the key file format drld reads (32 raw bytes work too). Readable by its owner
// only: drld refuses a key file others can read.
std::string write_key(const TempDir& dir, const std::string& name, char digit) {
  const std::string path = dir.file(name);
  write_file_in_place(path, std::string(64, digit) + "\n");
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  return path;
}

std::string key_lines(const std::string& key_file, const std::string& previous_key_file = {}) {
  std::string lines = "key_file = \"" + key_file + "\"\n";
  if (!previous_key_file.empty()) lines += "previous_key_file = \"" + previous_key_file + "\"\n";
  return lines;
}

// `count` admitted checks of key `key` on node i; returns how many were admitted.
std::uint64_t admit(Cluster& cluster, std::size_t i, const char* key, int count) {
  drl::Client client = cluster.node(i).connect();
  std::uint64_t admitted = 0;
  for (int k = 0; k < count; ++k) {
    const auto decision = client.check(drl::CheckRequest{"p", key});
    REQUIRE(decision.ok());
    admitted += decision->allowed ? 1 : 0;
  }
  return admitted;
}

TEST_CASE(
    "authentication: three nodes sharing a key form a cluster; a node with another key and a "
    "node without a key are never admitted, their datagrams are dropped and counted, and no "
    "count changes") {
  TempDir dir;
  const std::string shared = write_key(dir, "shared.key", 'a');
  const std::string other = write_key(dir, "other.key", 'b');
  ClusterSpec spec;
  spec.nodes = 5;  // n1..n3 share a key, n4 has another, n5 none; every node lists all five
  spec.cluster_settings = kTiming;
  spec.node_cluster_settings = {key_lines(shared), key_lines(shared), key_lines(shared),
                                key_lines(other), ""};
  spec.policies = kPolicy;
  Cluster cluster(dir, spec);
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s, {0, 1, 2}));

  std::vector<std::uint64_t> admitted;
  for (std::size_t i = 0; i < 5; ++i) admitted.push_back(admit(cluster, i, "auth", 10));
  // Ten heartbeat intervals: every node has tried to reach every other many times.
  std::this_thread::sleep_for(500ms);

  std::string last;
  const auto agreed = wait_for_agreement({&cluster.node(0), &cluster.node(1), &cluster.node(2)},
                                         "p", "auth", 3s, &last);
  INFO("last inspect:\n" << last);
  REQUIRE(agreed.has_value());
  // The three hold exactly their own admissions; nothing from n4 or n5.
  CHECK(agreed->total() == admitted[0] + admitted[1] + admitted[2]);
  CHECK(agreed->incarnations_of("n4") == 0);
  CHECK(agreed->incarnations_of("n5") == 0);
  // n4 and n5 hold only their own counts.
  CHECK(inspect_slots(cluster.node(3), "p", "auth").total() == admitted[3]);
  CHECK(inspect_slots(cluster.node(3), "p", "auth").incarnations_of("n4") == 1);
  CHECK(inspect_slots(cluster.node(4), "p", "auth").total() == admitted[4]);
  CHECK(inspect_slots(cluster.node(4), "p", "auth").origins.size() == 1);

  for (std::size_t i = 0; i < 3; ++i) {
    const NodeStatus status = node_status(cluster.node(i));
    INFO("node " << cluster.id(i));
    CHECK(status.fields.at("cluster_authenticated") == "true");
    // The keyed nodes never heard n4 or n5: they stay unknown, without a name.
    for (std::size_t stranger : {3, 4}) {
      const PeerRow* row = status.peer_at(cluster.address(stranger));
      REQUIRE(row != nullptr);
      CHECK(row->state == "unknown");
      CHECK(row->node == "?");
      CHECK(status.peer(cluster.id(stranger)) == nullptr);
    }
    CHECK(status.uint("datagrams_dropped_bad_mac") > 0);          // n4's
    CHECK(status.uint("datagrams_dropped_unauthenticated") > 0);  // n5's
    CHECK(status.uint("datagrams_dropped_bad_checksum") == 0);
    CHECK(status.uint("datagrams_dropped_replayed") == 0);
  }
  // And the strangers drop what the cluster sends them.
  const NodeStatus wrong_key = node_status(cluster.node(3));
  CHECK(wrong_key.uint("datagrams_dropped_bad_mac") > 0);
  CHECK(wrong_key.uint("datagrams_dropped_unauthenticated") > 0);  // n5's, unsigned
  for (const PeerRow& row : wrong_key.peers) CHECK(row.state != "alive");
  const NodeStatus no_key = node_status(cluster.node(4));
  CHECK(no_key.fields.at("cluster_authenticated") == "false");
  CHECK(no_key.uint("datagrams_dropped_unauthenticated") > 0);
  for (const PeerRow& row : no_key.peers) CHECK(row.state != "alive");
}

// The drop counters of a node's status.
std::map<std::string, std::uint64_t> drops(const DaemonProcess& node) {
  const NodeStatus status = node_status(node);
  std::map<std::string, std::uint64_t> out;
  for (const auto& [name, value] : status.fields) {
    if (name.rfind("datagrams_dropped", 0) == 0) out[name] = std::stoull(value);
  }
  return out;
}

// n2 reaches n1 through a recording relay (n1 advertises the relay's address), so the test
// holds real datagrams of the cluster to corrupt and replay at n1's own port.
void forged_datagrams_are_dropped(bool keyed) {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 2;
  spec.cluster_settings = kTiming;
  spec.policies = kPolicy;
  if (keyed) {
    const std::string key = write_key(dir, "cluster.key", 'c');
    spec.node_cluster_settings = {key_lines(key), key_lines(key)};
  }
  Cluster cluster(dir, spec);
  UdpRelay relay(cluster.address(0));
  std::string n1_settings = keyed ? key_lines(dir.file("cluster.key")) : "";
  cluster.set_node_cluster_settings(0, n1_settings + "advertise = \"" + relay.address() + "\"\n");
  cluster.set_peer_list(0, {cluster.address(1)});
  cluster.set_peer_list(1, {relay.address()});
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s));

  const std::uint64_t admitted = admit(cluster, 0, "forge", 20) + admit(cluster, 1, "forge", 20);
  const auto agreed = wait_for_agreement({&cluster.node(0), &cluster.node(1)}, "p", "forge", 3s);
  REQUIRE(agreed.has_value());
  REQUIRE(agreed->total() == admitted);
  REQUIRE(relay.forwarded() > 0);
  // Let the replay window move past what the relay recorded so far, then take the newest:
  // still within the window (64 datagrams), already seen.
  const std::vector<std::string> recorded = relay.recorded();
  const std::string real = recorded.back();
  REQUIRE(real.size() > 30);
  REQUIRE(real.substr(0, 3) == "DRL");

  const auto before = drops(cluster.node(0));
  UdpSocket attacker;
  const std::string target = cluster.address(0);
  attacker.send_to(target, std::string(40, 'x'));  // not a drl datagram
  attacker.send_to(target, "DRL");                 // too short for header and tag
  std::string body_flipped = real;
  body_flipped[20] = static_cast<char>(body_flipped[20] ^ 0x01);
  attacker.send_to(target, body_flipped);
  std::string tag_flipped = real;
  tag_flipped.back() = static_cast<char>(tag_flipped.back() ^ 0x80);
  attacker.send_to(target, tag_flipped);
  std::string flag_flipped = real;  // claims the opposite of what the cluster does
  flag_flipped[4] = static_cast<char>(flag_flipped[4] ^ 0x01);
  attacker.send_to(target, flag_flipped);
  std::string future = real;
  future[3] = 2;  // a protocol version this build does not speak
  attacker.send_to(target, future);
  attacker.send_to(target, real);  // replayed, twice
  attacker.send_to(target, real);

  const char* corrupted = keyed ? "datagrams_dropped_bad_mac" : "datagrams_dropped_bad_checksum";
  const std::map<std::string, std::uint64_t> expected{{"datagrams_dropped_bad_magic", 1},
                                                      {"datagrams_dropped_truncated", 1},
                                                      {corrupted, 2},
                                                      {"datagrams_dropped_unauthenticated", 1},
                                                      {"datagrams_dropped_unsupported_version", 1},
                                                      {"datagrams_dropped_replayed", 2},
                                                      {"datagrams_dropped", 8}};
  std::map<std::string, std::uint64_t> after;
  const bool counted = wait_until(
      [&] {
        after = drops(cluster.node(0));
        return after["datagrams_dropped"] >= before.at("datagrams_dropped") + 8;
      },
      3s, 5ms);
  CHECK(counted);
  for (const auto& entry : after) {
    // Named copies: doctest's INFO captures in a lambda, and clang 14 cannot capture bindings.
    const std::string& name = entry.first;
    const auto value = entry.second;
    INFO(name << ": " << before.at(name) << " -> " << value);
    const auto it = expected.find(name);
    CHECK(value - before.at(name) == (it == expected.end() ? 0 : it->second));
  }
  // No count moved: both nodes hold exactly the admissions, as before.
  CHECK(inspect_slots(cluster.node(0), "p", "forge") == *agreed);
  CHECK(inspect_slots(cluster.node(1), "p", "forge") == *agreed);
  // And the relay kept working: the cluster is still connected.
  CHECK(cluster.wait_until_connected(5s));
}

TEST_CASE(
    "authentication: junk, corrupted, unsigned, future-version and replayed datagrams sent to a "
    "keyed node are dropped and counted by reason, and no count changes") {
  forged_datagrams_are_dropped(true);
}

TEST_CASE(
    "integrity: junk, corrupted, signed, future-version and replayed datagrams sent to a node "
    "without a key are dropped and counted by reason, and no count changes") {
  forged_datagrams_are_dropped(false);
}

TEST_CASE(
    "key rotation done wrong: a node that signs with a key its peer does not accept yet hears "
    "the peer, but is never heard, and no counts flow in either direction") {
  TempDir dir;
  const std::string old_key = write_key(dir, "old.key", '1');
  const std::string new_key = write_key(dir, "new.key", '2');
  ClusterSpec spec;
  spec.nodes = 2;
  spec.cluster_settings = kTiming;
  spec.policies = kPolicy;
  // n1 already signs with the new key (and accepts the old); n2 knows only the old key.
  spec.node_cluster_settings = {key_lines(new_key, old_key), key_lines(old_key)};
  Cluster cluster(dir, spec);
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  // A node sends deltas to configured peers it has not heard yet only while the cluster forms
  // (its first down_after): count after that, when n2 knows that n1 is not reachable.
  std::this_thread::sleep_for(800ms);
  const std::uint64_t on_n1 = admit(cluster, 0, "rot", 7);
  const std::uint64_t on_n2 = admit(cluster, 1, "rot", 5);
  std::this_thread::sleep_for(600ms);  // 12 heartbeat intervals, 120 gossip rounds

  const NodeStatus n1 = node_status(cluster.node(0));
  const NodeStatus n2 = node_status(cluster.node(1));
  // n1 accepts n2's datagrams (signed with the old key, which n1 still accepts) ...
  REQUIRE(n1.peer("n2") != nullptr);
  CHECK(n1.peer("n2")->state == "alive");
  CHECK(n1.uint("datagrams_dropped") == 0);
  // ... but n2 drops all of n1's, so n1's heartbeats are never echoed (no round trip) ...
  CHECK(n1.peer("n2")->rtt_us == -1);
  CHECK(n2.uint("datagrams_dropped_bad_mac") > 0);
  // ... and n2 has never heard n1: unknown, and so not sent any counts.
  REQUIRE(n2.peer_at(cluster.address(0)) != nullptr);
  CHECK(n2.peer_at(cluster.address(0))->state == "unknown");
  CHECK(inspect_slots(cluster.node(0), "p", "rot").total() == on_n1);
  CHECK(inspect_slots(cluster.node(1), "p", "rot").total() == on_n2);
  CHECK(inspect_slots(cluster.node(1), "p", "rot").incarnations_of("n1") == 0);
  CHECK(inspect_slots(cluster.node(0), "p", "rot").incarnations_of("n2") == 0);
}

TEST_CASE(
    "key rotation: accept the new key everywhere, then sign with it everywhere, then drop the "
    "old one; one restart at a time keeps every node connected and every count at each step") {
  TempDir dir;
  const std::string old_key = write_key(dir, "old.key", '3');
  const std::string new_key = write_key(dir, "new.key", '4');
  ClusterSpec spec;
  spec.cluster_settings = kTiming;
  spec.policies = kPolicy;
  spec.node_cluster_settings.assign(3, key_lines(old_key));
  Cluster cluster(dir, spec);
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s));

  std::uint64_t admitted = 0;
  const std::vector<std::pair<const char*, std::string>> steps{
      {"1: key_file = old, previous_key_file = new", key_lines(old_key, new_key)},
      {"2: key_file = new, previous_key_file = old", key_lines(new_key, old_key)},
      {"3: key_file = new", key_lines(new_key)},
  };
  for (const auto& [step_name, lines] : steps) {
    const char* step = step_name;  // INFO's lambda: clang 14 cannot capture a binding
    for (std::size_t i = 0; i < 3; ++i) {
      INFO("step " << step << ", restarting " << cluster.id(i));
      REQUIRE(cluster.node(i).stop() == 0);
      cluster.set_node_cluster_settings(i, lines);
      cluster.start_node(i);
      // Every node hears every other, in both directions, with the mix of keys of this moment.
      REQUIRE(cluster.wait_until_connected(10s));
      for (std::size_t j = 0; j < 3; ++j) admitted += admit(cluster, j, "rotate", 3);
      std::string last;
      const auto agreed = wait_for_agreement({&cluster.node(0), &cluster.node(1), &cluster.node(2)},
                                             "p", "rotate", 3s, &last);
      INFO("last inspect:\n" << last);
      REQUIRE(agreed.has_value());
      CHECK(agreed->total() == admitted);
      for (std::size_t j = 0; j < 3; ++j) {
        const NodeStatus status = node_status(cluster.node(j));
        CHECK(status.uint("datagrams_dropped_bad_mac") == 0);
        CHECK(status.uint("datagrams_dropped_unauthenticated") == 0);
      }
    }
  }
}

}  // namespace
}  // namespace drl::integration
