// A node's own datagrams sent back to it, on a real drld with a cluster key (issue 20). The test
// is the node's one peer itself: node "t", a wire::ClusterNode with the same key on the test's
// own UDP socket, so it holds the datagrams the node sends it, as anyone who reads the traffic
// does. Sent back to the node from t's address, such a datagram used to remove t from its peers.
// And a node bound to a wildcard address leaves its own address out of its peer list.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.hpp"
#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/replicator.hpp"
#include "wire/cluster_codec.hpp"
#include "wire/cluster_node.hpp"

namespace drl::integration {
namespace {

// Long enough that a peer silent during a check is still alive at its end, on a loaded machine.
constexpr const char* kTiming =
    "gossip_interval = \"5ms\"\nheartbeat_interval = \"50ms\"\nsuspect_after = \"2s\"\n"
    "down_after = \"4s\"\n";
constexpr const char* kPolicy =
    "[[policy]]\nname = \"p\"\nlimit = 1000000\nwindow = \"1h\"\nalgorithm = \"fixed\"\n";
constexpr const char* kKeyHex = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee";

wire::CodecOptions keyed_codec() {
  wire::CodecOptions codec;
  wire::ClusterKey key;
  REQUIRE(wire::parse_cluster_key(kKeyHex, key));
  codec.keys.push_back(key);
  return codec;
}

core::MonoTime mono_now() {
  return core::MonoTime{std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count()};
}

// Node "t": the replication of a real node, driven from the test's thread, on its own socket.
class TestPeer {
 public:
  explicit TestPeer(std::string node_address)
      : node_address_(std::move(node_address)),
        incarnation_(static_cast<std::uint64_t>(wall_ms())),
        store_(core::StoreOptions{1024, 4, true}),
        origins_(core::Origin{"t", incarnation_}, 64),
        node_(config(), keyed_codec(), store_, origins_) {}

  std::string address() const { return "127.0.0.1:" + std::to_string(socket_.port()); }
  const UdpSocket& socket() const { return socket_; }

  // Receives, answers and gossips for `duration`; keeps every datagram the node sent.
  void run_for(Millis duration) {
    const auto end = std::chrono::steady_clock::now() + duration;
    while (std::chrono::steady_clock::now() < end) {
      if (const auto datagram = socket_.receive(2ms)) {
        if (datagram->first == node_address_) from_node_.push_back(datagram->second);
        node_.on_datagram(mono_now(), core::WallTime{wall_ms()}, datagram->first, datagram->second);
      }
      if (node_.next_deadline() <= mono_now())
        node_.on_timer(mono_now(), core::WallTime{wall_ms()});
      for (const wire::OutgoingDatagram& out : node_.take_datagrams()) {
        socket_.send_to(out.address, out.bytes);
      }
    }
  }

  // The newest heartbeat the node sent to t, as it arrived.
  std::string last_heartbeat_from_node() const {
    const wire::ClusterCodec codec(keyed_codec());
    for (auto it = from_node_.rbegin(); it != from_node_.rend(); ++it) {
      wire::DecodedDatagram decoded;
      wire::DropReason reason{};
      if (codec.open(*it, decoded, reason) &&
          decoded.message.type == core::MessageType::heartbeat) {
        return *it;
      }
    }
    return {};
  }

 private:
  core::ReplicationConfig config() const {
    core::ReplicationConfig config;
    config.node_id = "t";
    config.incarnation = incarnation_;
    config.address = address();
    config.seeds = {node_address_};
    config.heartbeat_interval_ms = 50;
    config.suspect_after_ms = 2000;
    config.down_after_ms = 4000;
    return config;
  }

  UdpSocket socket_;  // first: the node's config names its port
  std::string node_address_;
  std::uint64_t incarnation_;
  core::CounterStore store_;
  core::OriginTable origins_;
  wire::ClusterNode node_;
  std::vector<std::string> from_node_;
};

std::string describe(const NodeStatus& status) {
  std::string out;
  for (const PeerRow& row : status.peers) {
    out += row.node + " " + row.address + " " + row.state + "\n";
  }
  return out;
}

TEST_CASE(
    "replay: a keyed node's own heartbeat, sent back to it from its peer's address, leaves the "
    "peer in its table, alive, and is counted as a datagram from itself") {
  TempDir dir;
  const std::string key_file = dir.file("cluster.key");
  write_file_in_place(key_file, std::string(kKeyHex) + "\n");
  REQUIRE(::chmod(key_file.c_str(), 0600) == 0);  // drld refuses a key others can read
  ClusterSpec spec;
  spec.nodes = 1;
  spec.cluster_settings = kTiming;
  spec.node_cluster_settings = {"key_file = \"" + key_file + "\"\n"};
  spec.policies = kPolicy;
  Cluster cluster(dir, spec);
  TestPeer t(cluster.address(0));
  cluster.set_peer_list(0, {t.address()});
  cluster.start();
  INFO("logs:\n" << cluster.logs());

  // n1 hears t, and t hears n1.
  NodeStatus status;
  const bool heard = wait_until(
      [&] {
        t.run_for(50ms);
        status = node_status(cluster.node(0));
        const PeerRow* row = status.peer_at(t.address());
        return row != nullptr && row->node == "t" && row->state == "alive" && row->rtt_us >= 0;
      },
      10s, 1ms);
  INFO("n1's peers:\n" << describe(status));
  REQUIRE(heard);
  REQUIRE(status.fields.at("cluster_authenticated") == "true");
  const std::string heartbeat = t.last_heartbeat_from_node();
  REQUIRE_FALSE(heartbeat.empty());
  const std::uint64_t from_self = status.uint("messages_from_self");
  const std::uint64_t joined = status.uint("peers_joined");

  // t falls silent (so that nothing of t's can make up for the replay), and its socket sends
  // n1 its own heartbeat back: accepted by the replay window (n1 never receives its own stream).
  t.socket().send_to(cluster.address(0), heartbeat);
  NodeStatus after;
  const bool counted = wait_until(
      [&] {
        after = node_status(cluster.node(0));
        return after.uint("messages_from_self") > from_self;
      },
      1500ms);
  INFO("n1's peers after:\n" << describe(after));
  CHECK(counted);
  CHECK(after.uint("datagrams_dropped_replayed") == status.uint("datagrams_dropped_replayed"));
  REQUIRE(after.peers.size() == 1);
  CHECK(after.peers[0].address == t.address());
  CHECK(after.peers[0].node == "t");
  CHECK(after.peers[0].state == "alive");

  // t talks again: n1 still holds it under its configured entry, never added again.
  t.run_for(300ms);
  const NodeStatus later = node_status(cluster.node(0));
  INFO("n1's peers later:\n" << describe(later));
  REQUIRE(later.peers.size() == 1);
  CHECK(later.peers[0].state == "alive");
  CHECK(later.uint("peers_joined") == joined);
}

TEST_CASE(
    "wildcard bind: a node bound to 0.0.0.0 leaves its own address out of its peers, says so in "
    "its log, and never sends to itself") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 1;
  spec.hosts = {"0.0.0.0"};
  spec.ports = pick_udp_ports(1);
  spec.cluster_settings = kTiming;
  spec.policies = kPolicy;
  Cluster cluster(dir, spec);
  const std::string own = "127.0.0.1:" + std::to_string(spec.ports[0]);
  UdpSocket other;
  const std::string other_address = "127.0.0.1:" + std::to_string(other.port());
  cluster.set_peer_list(0, {own, other_address});
  cluster.start();
  INFO("logs:\n" << cluster.logs());

  // Twenty heartbeat intervals: a heartbeat to itself would have come back many times.
  std::this_thread::sleep_for(1s);
  const NodeStatus status = node_status(cluster.node(0));
  INFO("peers:\n" << describe(status));
  REQUIRE(status.peers.size() == 1);
  CHECK(status.peers[0].address == other_address);
  CHECK(status.uint("messages_from_self") == 0);
  CHECK(cluster.node(0).log().find("peers left out as this node: " + own) != std::string::npos);
  CHECK(other.receive(100ms).has_value());  // the other peer gets its heartbeats
}

}  // namespace
}  // namespace drl::integration
