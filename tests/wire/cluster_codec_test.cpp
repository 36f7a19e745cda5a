#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <tuple>

#include "wire/cluster_codec.hpp"
#include "wire/cluster_node.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

ClusterKey key_of(unsigned char fill) {
  ClusterKey key;
  key.fill(fill);
  return key;
}

core::ClusterMessage delta_with(std::size_t updates, std::size_t origins = 1) {
  core::ClusterMessage m;
  m.type = core::MessageType::delta;
  m.sender_id = "node-a";
  m.sender_incarnation = 1'800'000'000'123'456ULL;
  m.sender_address = "10.0.0.1:7001";
  m.sent_wall_ms = 1'800'000'000'000;
  for (std::size_t o = 0; o < origins; ++o) {
    m.origins.push_back(core::Origin{"node-" + std::to_string(o), 1000 + o});
  }
  auto list = std::make_shared<std::vector<core::WireUpdate>>();
  for (std::size_t i = 0; i < updates; ++i) {
    list->push_back(core::WireUpdate{0x1234'5678'9abc'def0ULL + i * 7919,
                                     static_cast<std::uint32_t>(i % 3 == 0 ? 60'000 : 1000),
                                     30'000'000 + i % 2, static_cast<std::uint32_t>(i % origins),
                                     static_cast<std::uint32_t>(i * 13)});
  }
  m.updates = list;
  return m;
}

// Every update of `m`, resolved to (origin, update) pairs, from datagrams through `codec`.
std::vector<std::pair<core::Origin, core::WireUpdate>> round_trip(const ClusterCodec& codec,
                                                                  const core::ClusterMessage& m,
                                                                  std::size_t* datagrams) {
  std::vector<std::pair<core::Origin, core::WireUpdate>> out;
  const std::vector<std::string> bodies = codec.encode_bodies(m);
  *datagrams = bodies.size();
  std::uint64_t sequence = 0;
  for (const std::string& body : bodies) {
    const std::string datagram = codec.seal(body, ++sequence, 7);
    CHECK(datagram.size() <= 1400);
    DecodedDatagram decoded;
    DropReason reason{};
    REQUIRE(codec.open(datagram, decoded, reason));
    CHECK(decoded.sequence == sequence);
    CHECK(decoded.message.sender_id == m.sender_id);
    CHECK(decoded.message.sender_incarnation == m.sender_incarnation);
    CHECK(decoded.message.sender_address == m.sender_address);
    CHECK(decoded.message.sent_wall_ms == m.sent_wall_ms);
    REQUIRE(decoded.message.updates);
    for (const core::WireUpdate& u : *decoded.message.updates) {
      out.emplace_back(decoded.message.origins.at(u.origin), u);
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "cluster codec: a large delta is split into datagrams of at most 1400 bytes, losslessly") {
  ClusterCodec codec(CodecOptions{});
  const core::ClusterMessage m = delta_with(5000, 3);
  std::size_t datagrams = 0;
  const auto decoded = round_trip(codec, m, &datagrams);
  REQUIRE(decoded.size() == 5000);
  CHECK(datagrams > 1);
  // About 14 bytes per update on the wire: far fewer datagrams than updates.
  CHECK(datagrams <= 5000 * 16 / 1300);
  std::multiset<std::tuple<std::string, std::uint64_t, std::uint64_t, std::uint32_t, std::uint64_t,
                           std::uint32_t>>
      expected, got;
  for (const core::WireUpdate& u : *m.updates) {
    expected.emplace(m.origins[u.origin].node_id, m.origins[u.origin].incarnation, u.counter_id,
                     u.window_ms, u.window_id, u.count);
  }
  for (const auto& [origin, u] : decoded) {
    got.emplace(origin.node_id, origin.incarnation, u.counter_id, u.window_ms, u.window_id,
                u.count);
  }
  CHECK(expected == got);
}

TEST_CASE("cluster codec: a heartbeat keeps its token and as many members as fit") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m;
  m.type = core::MessageType::heartbeat;
  m.sender_id = "a";
  m.sender_incarnation = 7;
  m.token = 0xdeadbeefcafeULL;
  for (int i = 0; i < 40; ++i) {
    m.members.push_back(core::MemberRecord{std::string(60, char('a' + i % 26)), 9,
                                           "192.0.2." + std::to_string(i) + ":7001"});
  }
  const std::vector<std::string> bodies = codec.encode_bodies(m);
  REQUIRE(bodies.size() == 1);
  const std::string datagram = codec.seal(bodies[0], 1, 7);
  CHECK(datagram.size() <= 1400);
  DecodedDatagram decoded;
  DropReason reason{};
  REQUIRE(codec.open(datagram, decoded, reason));
  CHECK(decoded.message.type == core::MessageType::heartbeat);
  CHECK(decoded.message.token == m.token);
  CHECK(decoded.message.members.size() > 5);
  CHECK(decoded.message.members.size() < 40);
  CHECK(decoded.message.members[3].address == "192.0.2.3:7001");
}

TEST_CASE("cluster codec: with a key, datagrams are authenticated; the wrong key is refused") {
  CodecOptions signed_options;
  signed_options.keys.push_back(key_of(1));
  ClusterCodec sender(signed_options);
  CodecOptions other;
  other.keys.push_back(key_of(2));
  ClusterCodec wrong(other);
  ClusterCodec open_cluster(CodecOptions{});
  CodecOptions rotating;
  rotating.keys = {key_of(2), key_of(1)};
  ClusterCodec rotation(rotating);

  const std::string datagram = sender.seal(sender.encode_bodies(delta_with(10))[0], 1, 7);
  DecodedDatagram decoded;
  DropReason reason{};
  CHECK(sender.open(datagram, decoded, reason));
  CHECK_FALSE(wrong.open(datagram, decoded, reason));
  CHECK(reason == DropReason::bad_mac);
  CHECK_FALSE(open_cluster.open(datagram, decoded, reason));
  CHECK(reason == DropReason::unauthenticated);
  CHECK(rotation.open(datagram, decoded, reason));  // the previous key is still accepted

  const std::string unsigned_datagram =
      open_cluster.seal(open_cluster.encode_bodies(delta_with(10))[0], 1, 7);
  CHECK_FALSE(sender.open(unsigned_datagram, decoded, reason));
  CHECK(reason == DropReason::unauthenticated);
}

TEST_CASE("cluster codec: every single-bit corruption is detected") {
  for (bool keyed : {false, true}) {
    CodecOptions options;
    if (keyed) options.keys.push_back(key_of(9));
    ClusterCodec codec(options);
    const std::string datagram = codec.seal(codec.encode_bodies(delta_with(20))[0], 5, 7);
    for (std::size_t byte = 0; byte < datagram.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string corrupt = datagram;
        corrupt[byte] = static_cast<char>(corrupt[byte] ^ (1 << bit));
        DecodedDatagram decoded;
        DropReason reason{};
        CAPTURE(byte);
        REQUIRE_FALSE(codec.open(corrupt, decoded, reason));
      }
    }
  }
}

TEST_CASE("cluster codec: truncated, foreign and future datagrams are dropped with a reason") {
  ClusterCodec codec(CodecOptions{});
  const std::string datagram = codec.seal(codec.encode_bodies(delta_with(3))[0], 1, 7);
  DecodedDatagram decoded;
  DropReason reason{};
  CHECK_FALSE(codec.open(datagram.substr(0, 10), decoded, reason));
  CHECK(reason == DropReason::truncated);
  CHECK_FALSE(codec.open(datagram.substr(0, datagram.size() - 1), decoded, reason));
  CHECK_FALSE(codec.open("GET / HTTP/1.1\r\nHost: x\r\n\r\n", decoded, reason));
  CHECK(reason == DropReason::bad_magic);
  std::string future = datagram;
  future[3] = 2;
  CHECK_FALSE(codec.open(future, decoded, reason));
  CHECK(reason == DropReason::unsupported_version);
}

TEST_CASE("cluster codec: well-sealed garbage bodies are refused as malformed, never crash") {
  ClusterCodec codec(CodecOptions{});
  std::mt19937_64 rng(7);
  const std::string valid = codec.encode_bodies(delta_with(30, 2))[0];
  int malformed = 0;
  for (int trial = 0; trial < 20'000; ++trial) {
    std::string body;
    if (trial % 2 == 0) {
      body.resize(1 + rng() % 200);
      for (char& c : body) c = static_cast<char>(rng());
    } else {
      body = valid.substr(0, 1 + rng() % valid.size());
      for (int k = 0; k < 2; ++k) body[rng() % body.size()] = static_cast<char>(rng());
    }
    DecodedDatagram decoded;
    DropReason reason{};
    if (!codec.open(codec.seal(body, 1, 7), decoded, reason)) {
      CHECK(reason == DropReason::malformed);
      ++malformed;
    }
  }
  CHECK(malformed > 10'000);
}

TEST_CASE("cluster key files hold 32 raw bytes or 64 hex digits") {
  ClusterKey key{};
  CHECK(parse_cluster_key(std::string(32, 'k'), key));
  CHECK(key[0] == 'k');
  CHECK(parse_cluster_key(std::string(64, 'a') + "\n", key));
  CHECK(key[0] == 0xaa);
  CHECK_FALSE(parse_cluster_key("too short", key));
  CHECK_FALSE(parse_cluster_key(std::string(64, 'z'), key));
}

TEST_CASE("cluster node: replayed and duplicated datagrams are dropped and counted") {
  core::CounterStore store_a(core::StoreOptions{100, 1, true});
  core::CounterStore store_b(core::StoreOptions{100, 1, true});
  core::OriginTable origins_a(core::Origin{"a", 1}, 16);
  core::OriginTable origins_b(core::Origin{"b", 1}, 16);
  core::ReplicationConfig config_a;
  config_a.node_id = "a";
  config_a.incarnation = 1;
  config_a.address = "a:1";
  config_a.seeds = {"b:1"};
  core::ReplicationConfig config_b = config_a;
  config_b.node_id = "b";
  config_b.address = "b:1";
  config_b.seeds = {"a:1"};
  CodecOptions codec;
  codec.keys.push_back(key_of(3));
  ClusterNode a(config_a, codec, store_a, origins_a);
  ClusterNode b(config_b, codec, store_b, origins_b);
  a.on_timer(core::MonoTime{1}, core::WallTime{1'000});
  const auto datagrams = a.take_datagrams();
  REQUIRE(datagrams.size() == 1);
  b.on_datagram(core::MonoTime{2}, core::WallTime{1'000}, "a:1", datagrams[0].bytes);
  b.on_datagram(core::MonoTime{3}, core::WallTime{1'000}, "a:1", datagrams[0].bytes);
  CHECK(b.stats().dropped[static_cast<std::size_t>(DropReason::replayed)] == 1);
  CHECK(b.replicator().stats().messages_received == 1);
  std::string forged = datagrams[0].bytes;
  forged[20] = static_cast<char>(forged[20] ^ 1);
  b.on_datagram(core::MonoTime{4}, core::WallTime{1'000}, "a:1", forged);
  CHECK(b.stats().dropped[static_cast<std::size_t>(DropReason::bad_mac)] == 1);
  CHECK(b.replicator().stats().messages_received == 1);
}

TEST_CASE(
    "cluster node: the end of a full sync and a request for one, captured on their way to "
    "another node, change nothing here") {
  // a's datagrams to b, replayed to c: c's replay window for (a, b's tag) takes them once. The
  // flags speak of b, not of c: c must not think it has all of a's counts, nor start a sync.
  CodecOptions codec;
  codec.keys.push_back(key_of(5));
  ClusterCodec sender(codec);
  core::CounterStore store(core::StoreOptions{100, 1, true});
  core::OriginTable origins(core::Origin{"c", 3}, 16);
  core::ReplicationConfig config;
  config.node_id = "c";
  config.incarnation = 3;
  config.address = "c:1";
  ClusterNode c(config, codec, store, origins);
  std::uint64_t sequence = 0;
  std::int64_t now_ms = 1000;
  const auto from_a = [&](core::MessageType type, std::uint8_t flags, const char* to) {
    core::ClusterMessage m;
    m.type = type;
    m.flags = flags;
    m.sender_id = "a";
    m.sender_incarnation = 1;
    m.sender_address = "a:1";
    m.token = 77;
    if (type == core::MessageType::repair) {
      m.updates = std::make_shared<std::vector<core::WireUpdate>>();
    }
    const std::vector<std::string> bodies = sender.encode_bodies(m);
    REQUIRE(bodies.size() == 1);
    c.on_datagram(core::MonoTime{now_ms * 1'000'000}, core::WallTime{now_ms}, "a:1",
                  sender.seal(bodies[0], ++sequence, destination_tag(to)));
  };
  const auto peer_a = [&] {
    const std::vector<core::PeerStatus> peers = c.replicator().peers(core::MonoTime{});
    REQUIRE(peers.size() == 1);
    return peers[0];
  };
  const auto run_ms = [&](std::int64_t ms) {
    for (std::int64_t end = now_ms + ms; now_ms < end; ++now_ms) {
      c.on_timer(core::MonoTime{now_ms * 1'000'000}, core::WallTime{now_ms});
      c.take_datagrams();
    }
  };

  from_a(core::MessageType::heartbeat, 0, "c:1");
  run_ms(300);  // c's full sync to the new peer a ends
  REQUIRE_FALSE(peer_a().syncing);
  REQUIRE_FALSE(peer_a().synced);

  from_a(core::MessageType::repair, core::kFlagSyncComplete, "b:1");
  CHECK_FALSE(peer_a().synced);
  from_a(core::MessageType::heartbeat, core::kFlagWantSync, "b:1");
  CHECK_FALSE(peer_a().syncing);
  CHECK(c.replicator().stats().messages_received == 3);

  // Sent to c itself, they count.
  from_a(core::MessageType::repair, core::kFlagSyncComplete, "c:1");
  CHECK(peer_a().synced);
  from_a(core::MessageType::heartbeat, core::kFlagWantSync, "c:1");
  CHECK(peer_a().syncing);
}
