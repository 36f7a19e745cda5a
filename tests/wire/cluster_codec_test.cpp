#include <doctest/doctest.h>

#include <iterator>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>

#include "wire/cluster_body.hpp"
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

TEST_CASE(
    "cluster codec: a heartbeat keeps its token, the digest of its sender's members and as many "
    "members as fit") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m;
  m.type = core::MessageType::heartbeat;
  m.sender_id = "a";
  m.sender_incarnation = 7;
  m.token = 0xdeadbeefcafeULL;
  m.members_digest = 0xfedcba9876543210ULL;
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
  CHECK(decoded.message.members_digest == m.members_digest);
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

namespace {

constexpr std::uint64_t kDayMs = 86'400'000;
constexpr std::uint64_t kYearMs = 365 * kDayMs;

// Whether a node from before windows longer than 31 days would take the datagram: it drops
// every datagram with such a window as malformed.
bool older_node_accepts(const ClusterCodec& codec, const std::string& datagram) {
  DecodedDatagram decoded;
  DropReason reason{};
  if (!codec.open(datagram, decoded, reason)) return false;
  if (!decoded.message.updates) return true;
  for (const core::WireUpdate& u : *decoded.message.updates) {
    if (u.window_ms > 31 * kDayMs) return false;
  }
  return true;
}

}  // namespace

TEST_CASE(
    "cluster codec: windows up to 366 days travel exact; those over 31 days in datagrams of their "
    "own, the others byte for byte as before") {
  ClusterCodec codec(CodecOptions{});
  const std::uint64_t windows[] = {366 * kDayMs, 1000,        kYearMs,           31 * kDayMs,
                                   60'000,       40 * kDayMs, 31 * kDayMs + 1000};
  core::ClusterMessage mixed = delta_with(0, 2);
  core::ClusterMessage short_only = delta_with(0, 2);
  auto mixed_updates = std::make_shared<std::vector<core::WireUpdate>>();
  auto short_updates = std::make_shared<std::vector<core::WireUpdate>>();
  for (std::uint32_t i = 0; i < 700; ++i) {
    const std::uint64_t window_ms = windows[i % std::size(windows)];
    const core::WireUpdate u{0x1234'5678'9abc'def0ULL + i * 7919ULL, window_ms,
                             1'800'000'000'000ULL / window_ms - i % 2, i % 2, i * 13 + 1};
    mixed_updates->push_back(u);
    if (window_ms <= 31 * kDayMs) short_updates->push_back(u);
  }
  mixed.updates = mixed_updates;
  short_only.updates = short_updates;

  std::size_t datagrams = 0;
  const auto decoded = round_trip(codec, mixed, &datagrams);
  REQUIRE(decoded.size() == mixed_updates->size());
  std::multiset<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint32_t>> sent, got;
  for (const core::WireUpdate& u : *mixed_updates)
    sent.emplace(u.counter_id, u.window_ms, u.window_id, u.count);
  for (const auto& [origin, u] : decoded)
    got.emplace(u.counter_id, u.window_ms, u.window_id, u.count);
  CHECK(got == sent);

  // The short windows come first, in exactly the datagrams a delta without the long ones has:
  // an older node reads them as before, and drops only the rest.
  const std::vector<std::string> bodies = codec.encode_bodies(mixed);
  const std::vector<std::string> short_bodies = codec.encode_bodies(short_only);
  REQUIRE(bodies.size() > short_bodies.size());
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    CAPTURE(i);
    const std::string datagram = codec.seal(bodies[i], i + 1, 7);
    if (i < short_bodies.size()) {
      CHECK(bodies[i] == short_bodies[i]);
      CHECK(older_node_accepts(codec, datagram));
    } else {
      DecodedDatagram opened;
      DropReason reason{};
      REQUIRE(codec.open(datagram, opened, reason));
      for (const core::WireUpdate& u : *opened.message.updates) CHECK(u.window_ms > 31 * kDayMs);
    }
  }
}

TEST_CASE(
    "cluster codec: the end of a full sync is in a datagram an older node reads, after the long "
    "windows") {
  ClusterCodec codec(CodecOptions{});
  for (const bool with_short : {true, false}) {
    CAPTURE(with_short);
    core::ClusterMessage m = delta_with(0);
    m.type = core::MessageType::repair;
    m.flags = core::kFlagSyncComplete;
    auto updates = std::make_shared<std::vector<core::WireUpdate>>();
    for (std::uint32_t i = 0; i < 300; ++i) {
      updates->push_back(
          core::WireUpdate{i + 1ULL, i % 2 == 0 || !with_short ? kYearMs : 60'000, 57, 0, i + 1});
    }
    m.updates = updates;
    const std::vector<std::string> bodies = codec.encode_bodies(m);
    std::size_t flagged = 0;
    std::size_t received = 0;
    for (std::size_t i = 0; i < bodies.size(); ++i) {
      const std::string datagram = codec.seal(bodies[i], i + 1, 7);
      DecodedDatagram decoded;
      DropReason reason{};
      REQUIRE(codec.open(datagram, decoded, reason));
      if (decoded.message.updates) received += decoded.message.updates->size();
      if ((decoded.message.flags & core::kFlagSyncComplete) == 0) continue;
      ++flagged;
      CHECK(i + 1 == bodies.size());
      CHECK(older_node_accepts(codec, datagram));
    }
    CHECK(flagged == 1);
    CHECK(received == 300);
  }
}

TEST_CASE(
    "cluster codec: a window above 366 days, or above 31 days and not whole seconds, drops the "
    "datagram as malformed") {
  ClusterCodec codec(CodecOptions{});
  for (const std::uint64_t window_ms :
       {366 * kDayMs + 1000, 367 * kDayMs, 31 * kDayMs + 1, kYearMs + 999, std::uint64_t{0}}) {
    CAPTURE(window_ms);
    core::ClusterMessage m = delta_with(0);
    m.updates = std::make_shared<std::vector<core::WireUpdate>>(
        std::vector<core::WireUpdate>{{1, 60'000, 5, 0, 1}, {2, window_ms, 5, 0, 1}});
    const std::vector<std::string> bodies = codec.encode_bodies(m);
    bool dropped = false;
    for (const std::string& body : bodies) {
      DecodedDatagram decoded;
      DropReason reason{};
      if (!codec.open(codec.seal(body, 1, 7), decoded, reason)) {
        CHECK(reason == DropReason::malformed);
        dropped = true;
      }
    }
    CHECK(dropped);
  }
}

TEST_CASE("cluster node: a 365-day window's counts reach the other node and add up there") {
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
  ClusterNode a(config_a, CodecOptions{}, store_a, origins_a);
  ClusterNode b(config_b, CodecOptions{}, store_b, origins_b);
  ClusterCodec codec(CodecOptions{});
  const std::int64_t start_ms = static_cast<std::int64_t>(57 * kYearMs + 100 * kDayMs);
  std::int64_t now_ms = 0;
  std::size_t older_accepted = 0;
  std::size_t older_refused = 0;
  const auto run_ms = [&](std::int64_t ms) {
    for (const std::int64_t end = now_ms + ms; now_ms < end; ++now_ms) {
      const core::MonoTime mono{now_ms * 1'000'000};
      const core::WallTime wall{start_ms + now_ms};
      a.on_timer(mono, wall);
      b.on_timer(mono, wall);
      for (const OutgoingDatagram& d : a.take_datagrams()) {
        (older_node_accepts(codec, d.bytes) ? older_accepted : older_refused) += 1;
        b.on_datagram(mono, wall, "a:1", d.bytes);
      }
      for (const OutgoingDatagram& d : b.take_datagrams())
        a.on_datagram(mono, wall, "b:1", d.bytes);
    }
  };
  const auto year = [&](core::CounterStore& store, std::uint64_t id) {
    const std::uint64_t ids[] = {id};
    return store.lock(ids).view(id, kYearMs, core::WallTime{start_ms + now_ms}).counts;
  };
  run_ms(500);
  const std::uint64_t yearly = 0x5eed'0000'0000'0001ULL;
  const std::uint64_t minutely = 0x5eed'0000'0000'0002ULL;
  const std::uint64_t a_ids[] = {yearly, minutely};
  {
    auto locked = store_a.lock(a_ids);
    locked.add(yearly, kYearMs, core::WallTime{start_ms + now_ms}, 0, 6);
    locked.add(minutely, 60'000, core::WallTime{start_ms + now_ms}, 0, 2);
  }
  const std::uint64_t b_ids[] = {yearly};
  store_b.lock(b_ids).add(yearly, kYearMs, core::WallTime{start_ms + now_ms}, 0, 3);
  older_accepted = older_refused = 0;
  run_ms(20);
  CHECK(year(store_a, yearly).current == 9);
  CHECK(year(store_b, yearly).current == 9);
  const std::uint64_t minutely_ids[] = {minutely};
  CHECK(store_b.lock(minutely_ids)
            .view(minutely, 60'000, core::WallTime{start_ms + now_ms})
            .counts.current == 2);
  // The year's counts went in datagrams of their own: an older node would have dropped those,
  // and taken the others (heartbeats, acks, the minute's counts).
  CHECK(older_refused > 0);
  CHECK(older_accepted > 0);
  // Still there in the next year, as the previous window.
  now_ms += static_cast<std::int64_t>(kYearMs);
  CHECK(year(store_b, yearly).previous == 9);
}

TEST_CASE(
    "cluster codec: a relay message carries its destination and a datagram as bytes; one "
    "without either is malformed") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage relay;
  relay.type = core::MessageType::relay;
  relay.sender_id = "node-a";
  relay.sender_incarnation = 7;
  relay.sender_address = "10.0.0.1:7001";
  relay.relay_to = "10.0.0.2:7001";
  std::string payload(900, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 31);
  relay.relay_payload = std::make_shared<const std::string>(payload);
  const std::string body = relay_body(relay);
  CHECK(body.size() <= payload.size() + codec.relay_overhead_bytes(relay));
  DecodedDatagram decoded;
  DropReason reason{};
  REQUIRE(codec.open(codec.seal(body, 1, 2), decoded, reason));
  CHECK(decoded.message.type == core::MessageType::relay);
  CHECK(decoded.message.relay_to == relay.relay_to);
  REQUIRE(decoded.message.relay_payload);
  CHECK(*decoded.message.relay_payload == payload);
  for (const bool without_destination : {true, false}) {
    core::ClusterMessage broken = relay;
    if (without_destination) {
      broken.relay_to.clear();
    } else {
      broken.relay_payload = std::make_shared<const std::string>();
    }
    CHECK_FALSE(codec.open(codec.seal(relay_body(broken), 1, 2), decoded, reason));
    CHECK(reason == DropReason::malformed);
  }
}

TEST_CASE(
    "cluster node: under a one-way cut, datagrams reach the peer through a third node as their "
    "sender sealed them, within the datagram size, and the counts arrive") {
  CodecOptions codec;
  codec.keys.push_back(key_of(9));
  struct Member {
    core::CounterStore store{core::StoreOptions{10'000, 1, true}};
    core::OriginTable origins;
    ClusterNode node;
    Member(const std::string& id, const CodecOptions& codec)
        : origins(core::Origin{id, 1}, 16), node(config_of(id), codec, store, origins) {}
    static core::ReplicationConfig config_of(const std::string& id) {
      core::ReplicationConfig config;
      config.node_id = id;
      config.incarnation = 1;
      config.address = id + ":1";
      for (const char* peer : {"a:1", "b:1", "c:1"}) {
        if (id + ":1" != peer) config.seeds.push_back(peer);
      }
      return config;
    }
  };
  std::vector<std::unique_ptr<Member>> members;
  for (const char* id : {"a", "b", "c"}) members.push_back(std::make_unique<Member>(id, codec));
  bool cut = false;
  std::size_t largest = 0;
  std::int64_t now_ms = 0;
  const auto run_ms = [&](std::int64_t ms) {
    for (const std::int64_t end = now_ms + ms; now_ms < end; ++now_ms) {
      const core::MonoTime mono{now_ms * 1'000'000};
      const core::WallTime wall{1'800'000'000'000 + now_ms};
      for (std::size_t i = 0; i < members.size(); ++i) {
        members[i]->node.on_timer(mono, wall);
        for (const OutgoingDatagram& d : members[i]->node.take_datagrams()) {
          largest = std::max(largest, d.bytes.size());
          const std::size_t to = static_cast<std::size_t>(d.address[0] - 'a');
          if (cut && i == 0 && to == 1) continue;  // a's datagrams to b are lost
          members[to]->node.on_datagram(mono, wall, std::string(1, char('a' + i)) + ":1", d.bytes);
        }
      }
    }
  };
  run_ms(1000);
  cut = true;
  run_ms(4000);
  // Enough keys for several datagrams per round, each with room for its envelope.
  std::vector<std::uint64_t> ids;
  for (std::uint64_t k = 1; k <= 300; ++k) ids.push_back(0xabc0'0000ULL + k);
  for (std::uint64_t id : ids) {
    const std::uint64_t one[] = {id};
    members[0]->store.lock(one).add(id, 60'000, core::WallTime{1'800'000'000'000 + now_ms}, 0, 2);
  }
  run_ms(40);
  std::uint64_t total = 0;
  for (std::uint64_t id : ids) {
    const std::uint64_t one[] = {id};
    total += members[1]
                 ->store.lock(one)
                 .view(id, 60'000, core::WallTime{1'800'000'000'000 + now_ms})
                 .counts.current;
  }
  CHECK(total == 600);
  CHECK(largest <= 1400);
  CHECK(members[2]->node.replicator().stats().relay_datagrams_forwarded > 0);
  // Nothing b received was refused: relayed datagrams keep a's own sequence to b.
  std::uint64_t dropped = 0;
  for (std::uint64_t count : members[1]->node.stats().dropped) dropped += count;
  CHECK(dropped == 0);
  // After the heal, straight and relayed datagrams interleave in one replay window.
  cut = false;
  run_ms(1000);
  for (std::uint64_t count : members[1]->node.stats().dropped) dropped += count;
  CHECK(dropped == 0);
}

TEST_CASE(
    "cluster codec: a rights message fits the smallest datagram and refuses invalid records") {
  core::ClusterMessage m;
  m.type = core::MessageType::rights;
  m.sender_id = std::string(bounds::node_id_bytes_max, 'n');
  m.sender_incarnation = 1'800'000'000'123'456ULL;
  m.sender_address = std::string(bounds::peer_address_bytes_max, 'a');
  m.granted_to = 1'800'000'000'654'321ULL;
  for (std::size_t i = 0; i < bounds::rights_records_per_message_max; ++i) {
    m.rights.push_back(
        core::RightsRecord{~0ULL - i, 31'536'000'000ULL, ~0ULL, bounds::limit_max, ~0ULL, ~0ULL});
  }
  ClusterCodec small(CodecOptions{bounds::datagram_bytes_min, {key_of(1)}});
  const std::vector<std::string> bodies = small.encode_bodies(m);
  REQUIRE(bodies.size() == 1);
  CHECK(bodies.front().size() <= small.body_bytes_max());
  core::ClusterMessage read;
  REQUIRE(decode_body(bodies.front(), read));
  CHECK(read.rights.size() == bounds::rights_records_per_message_max);

  m.rights.assign(1, core::RightsRecord{42, 0, 7, 100, 5, 0});  // no such window
  CHECK_FALSE(decode_body(small.encode_bodies(m).front(), read));
  m.rights.assign(1, core::RightsRecord{0, 1000, 7, 100, 5, 0});  // no counter
  CHECK_FALSE(decode_body(small.encode_bodies(m).front(), read));
}
