// Frozen datagrams of cluster protocol version 1. Append-only: today's decoder must read every
// frozen datagram, and today's encoder must write the same header and every frozen body field
// with the same value (it may add fields). If this fails, nodes of this version and of the
// previous one could not form one cluster during a rolling upgrade.
// (To freeze files for a NEW version: DRL_UPDATE_GOLDEN=1, and review the diff.)
#include <doctest/doctest.h>

#include <msgpack.hpp>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "hex_text.hpp"
#include "wire/cluster_body.hpp"
#include "wire/cluster_codec.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

using drl::wire::testing::from_hex;
using drl::wire::testing::to_hex;

constexpr std::size_t kHeaderBytes = 18;

// Every map entry of `frozen` is in `now` with an equal value.
bool extends(const msgpack::object& frozen, const msgpack::object& now) {
  if (frozen.type != msgpack::type::MAP || now.type != msgpack::type::MAP) return frozen == now;
  for (std::uint32_t i = 0; i < frozen.via.map.size; ++i) {
    bool found = false;
    for (std::uint32_t j = 0; j < now.via.map.size && !found; ++j) {
      found = frozen.via.map.ptr[i].key == now.via.map.ptr[j].key &&
              extends(frozen.via.map.ptr[i].val, now.via.map.ptr[j].val);
    }
    if (!found) return false;
  }
  return true;
}

// The frozen datagram for `name`, checked against today's encoding `datagram`.
std::string golden(const std::string& name, const std::string& datagram, std::size_t tag_bytes) {
  const char* root = std::getenv("DRL_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  const std::string path = std::string(root) + "/tests/golden/cluster_v1/" + name + ".hex";
  if (const char* update = std::getenv("DRL_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path) << to_hex(datagram);
  }
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), (std::string("missing golden file ") + path));
  std::stringstream text;
  text << in.rdbuf();
  const std::string frozen = from_hex(text.str());
  CHECK(frozen.substr(0, kHeaderBytes) == datagram.substr(0, kHeaderBytes));
  const auto body = [&](const std::string& d) {
    return msgpack::unpack(d.data() + kHeaderBytes, d.size() - kHeaderBytes - tag_bytes);
  };
  const msgpack::object_handle old_body = body(frozen);
  const msgpack::object_handle new_body = body(datagram);
  CHECK_MESSAGE(extends(old_body.get(), new_body.get()), name);
  return frozen;
}

core::ClusterMessage base(core::MessageType type) {
  core::ClusterMessage m;
  m.type = type;
  m.sender_id = "node-a";
  m.sender_incarnation = 1'800'000'000'000'001ULL;
  m.sender_address = "192.0.2.1:7001";
  m.sent_wall_ms = 1'800'000'000'123;
  return m;
}

core::ClusterMessage open_frozen(const ClusterCodec& codec, const std::string& frozen) {
  DecodedDatagram decoded;
  DropReason reason{};
  REQUIRE(codec.open(frozen, decoded, reason));
  CHECK(decoded.sequence == 42);
  CHECK(decoded.destination_tag == destination_tag("192.0.2.2:7001"));
  return decoded.message;
}

}  // namespace

TEST_CASE("golden cluster v1: a heartbeat with members, a token and want-sync") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::heartbeat);
  m.token = 0x0123'4567'89ab'cdefULL;
  m.flags = core::kFlagWantSync;
  m.members = {{"node-a", 1'800'000'000'000'001ULL, "192.0.2.1:7001"},
               {"node-b", 1'800'000'000'000'002ULL, "192.0.2.2:7001"}};
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("heartbeat", datagram, 8));
  CHECK(read.type == core::MessageType::heartbeat);
  CHECK(read.token == m.token);
  CHECK(read.flags == core::kFlagWantSync);
  REQUIRE(read.members.size() == 2);
  CHECK(read.members[1].address == "192.0.2.2:7001");
  CHECK(read.sent_wall_ms == m.sent_wall_ms);
}

TEST_CASE("golden cluster v1: a heartbeat names the members its sender splits rights among") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::heartbeat);
  m.token = 0x0123'4567'89ab'cdefULL;
  m.members_digest = 0x8877'6655'4433'2211ULL;
  m.members = {{"node-a", 1'800'000'000'000'001ULL, "192.0.2.1:7001"}};
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read =
      open_frozen(codec, golden("heartbeat_members_digest", datagram, 8));
  CHECK(read.type == core::MessageType::heartbeat);
  CHECK(read.members_digest == m.members_digest);
  CHECK(read.members.size() == 1);
}

TEST_CASE("golden cluster v1: a delta of one origin's absolute counts") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::delta);
  m.origins = {{"node-a", 1'800'000'000'000'001ULL}};
  m.updates = std::make_shared<std::vector<core::WireUpdate>>(
      std::vector<core::WireUpdate>{{0x1111'2222'3333'4444ULL, 60'000, 30'000'000, 0, 17},
                                    {0x5555'6666'7777'8888ULL, 60'000, 30'000'000, 0, 3},
                                    {0x9999'aaaa'bbbb'ccccULL, 1'000, 1'800'000'000, 0, 250}});
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("delta", datagram, 8));
  REQUIRE(read.updates);
  REQUIRE(read.updates->size() == 3);
  CHECK(read.origins.at(0).node_id == "node-a");
  std::uint64_t total = 0;
  for (const core::WireUpdate& u : *read.updates) total += u.count;
  CHECK(total == 270);
}

TEST_CASE("golden cluster v1: the last repair slice of a full sync, authenticated") {
  CodecOptions options;
  ClusterKey key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i);
  options.keys.push_back(key);
  ClusterCodec codec(options);
  core::ClusterMessage m = base(core::MessageType::repair);
  m.flags = core::kFlagSyncComplete;
  m.origins = {{"node-b", 1'800'000'000'000'002ULL}, {"node-c", 1'800'000'000'000'003ULL}};
  m.updates = std::make_shared<std::vector<core::WireUpdate>>(
      std::vector<core::WireUpdate>{{0x1111'2222'3333'4444ULL, 60'000, 30'000'000, 0, 5},
                                    {0x1111'2222'3333'4444ULL, 60'000, 29'999'999, 1, 9}});
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read =
      open_frozen(codec, golden("repair_authenticated", datagram, 16));
  CHECK(read.flags == core::kFlagSyncComplete);
  REQUIRE(read.updates);
  CHECK(read.updates->size() == 2);
  CHECK(read.origins.size() == 2);
}

TEST_CASE("golden cluster v1: an ack echoes the token") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::ack);
  m.token = 0x0123'4567'89ab'cdefULL;
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("ack", datagram, 8));
  CHECK(read.type == core::MessageType::ack);
  CHECK(read.token == m.token);
}

TEST_CASE("golden cluster v1: overrides, a limit and a tombstone with their stamps") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::overrides);
  core::OverrideRecord limit;
  limit.scope = {"api", "free", "POST /login", 60'000};
  limit.kind = core::OverrideKind::limit;
  limit.value = 50;
  limit.set_wall_ms = 1'800'000'000'100;
  limit.expires_wall_ms = 1'800'000'900'100;
  limit.retain_until_wall_ms = 1'800'000'900'100;
  limit.reason = "incident 42";
  limit.stamp = {1'800'000'000'100, 2, "node-a"};
  core::OverrideRecord tombstone;
  tombstone.scope = {"search", "", "", 0};
  tombstone.kind = core::OverrideKind::cleared;
  tombstone.set_wall_ms = 1'800'000'000'000;
  tombstone.expires_wall_ms = 1'800'000'000'000;
  tombstone.retain_until_wall_ms = 1'800'003'600'000;
  tombstone.stamp = {1'800'000'000'000, 0, "node-b"};
  m.overrides = {limit, tombstone};
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("overrides", datagram, 8));
  CHECK(read.type == core::MessageType::overrides);
  REQUIRE(read.overrides.size() == 2);
  CHECK(read.overrides[0].scope == limit.scope);
  CHECK(read.overrides[0].value == 50);
  CHECK(read.overrides[0].stamp == limit.stamp);
  CHECK(read.overrides[1].kind == core::OverrideKind::cleared);
  CHECK(read.overrides[1].retain_until_wall_ms == 1'800'003'600'000);
}

TEST_CASE("golden cluster v1: a relay carries a datagram sealed for a third node, byte for byte") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage ack = base(core::MessageType::ack);
  ack.token = 0x0123'4567'89ab'cdefULL;
  const std::string inner =
      codec.seal(codec.encode_bodies(ack).front(), 7, destination_tag("192.0.2.3:7001"));
  core::ClusterMessage m = base(core::MessageType::relay);
  m.relay_to = "192.0.2.3:7001";
  m.relay_payload = std::make_shared<const std::string>(inner);
  const std::string datagram = codec.seal(relay_body(m), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("relay", datagram, 8));
  CHECK(read.type == core::MessageType::relay);
  CHECK(read.relay_to == "192.0.2.3:7001");
  REQUIRE(read.relay_payload);
  CHECK(*read.relay_payload == inner);
  // The payload is the third node's datagram as its sender sealed it.
  DecodedDatagram carried;
  DropReason reason{};
  REQUIRE(codec.open(*read.relay_payload, carried, reason));
  CHECK(carried.destination_tag == destination_tag("192.0.2.3:7001"));
  CHECK(carried.sequence == 7);
  CHECK(carried.message.type == core::MessageType::ack);
}

TEST_CASE("golden cluster v1: a leave is the header fields alone") {
  ClusterCodec codec(CodecOptions{});
  const core::ClusterMessage m = base(core::MessageType::leave);
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("leave", datagram, 8));
  CHECK(read.type == core::MessageType::leave);
  CHECK(read.sender_id == "node-a");
  CHECK(read.members.empty());
}

TEST_CASE("golden cluster v1: a rights message carries a request and a grant, six numbers each") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::rights);
  m.granted_to = 1'800'000'000'000'001ULL;
  m.rights.push_back(core::RightsRecord{0x1111'2222'3333'4444ULL, 60'000, 30'000'000, 100, 25, 0});
  m.rights.push_back(core::RightsRecord{0x5555'6666'7777'8888ULL, 1000, 1'800'000'000, 0, 0, 12});
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("rights", datagram, 8));
  CHECK(read.type == core::MessageType::rights);
  CHECK(read.granted_to == 1'800'000'000'000'001ULL);
  REQUIRE(read.rights.size() == 2);
  CHECK(read.rights[0].counter_id == 0x1111'2222'3333'4444ULL);
  CHECK(read.rights[0].window_ms == 60'000);
  CHECK(read.rights[0].window_id == 30'000'000);
  CHECK(read.rights[0].limit == 100);
  CHECK(read.rights[0].asked == 25);
  CHECK(read.rights[0].granted_total == 0);
  CHECK(read.rights[1].granted_total == 12);
}

TEST_CASE(
    "golden cluster v1: a totals message tells one incarnation what the other origins counted") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::totals);
  m.origins = {{"node-b", 1'800'000'000'000'002ULL}};  // the recipient, as the owner knows it
  m.updates = std::make_shared<std::vector<core::WireUpdate>>(
      std::vector<core::WireUpdate>{{0x1111'2222'3333'4444ULL, 60'000, 30'000'000, 0, 170},
                                    {0x1111'2222'3333'4444ULL, 60'000, 29'999'999, 0, 95}});
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("totals", datagram, 8));
  CHECK(read.type == core::MessageType::totals);
  REQUIRE(read.origins.size() == 1);
  CHECK(read.origins[0].node_id == "node-b");
  CHECK(read.origins[0].incarnation == 1'800'000'000'000'002ULL);
  REQUIRE(read.updates);
  REQUIRE(read.updates->size() == 2);
  std::uint64_t total = 0;
  for (const core::WireUpdate& u : *read.updates) total += u.count;
  CHECK(total == 265);
}

TEST_CASE(
    "golden cluster v1: a request for totals is a delta to the owners whose records, of count 0, "
    "name the keys") {
  ClusterCodec codec(CodecOptions{});
  core::ClusterMessage m = base(core::MessageType::delta);
  m.flags = core::kFlagOwners | core::kFlagWantsTotals;
  m.origins = {{"node-a", 1'800'000'000'000'001ULL}};  // the asker
  m.updates = std::make_shared<std::vector<core::WireUpdate>>(
      std::vector<core::WireUpdate>{{0x1111'2222'3333'4444ULL, 60'000, 30'000'000, 0, 0},
                                    {0x9999'aaaa'bbbb'ccccULL, 1'000, 1'800'000'000, 0, 0}});
  const std::string datagram =
      codec.seal(codec.encode_bodies(m).front(), 42, destination_tag("192.0.2.2:7001"));
  const core::ClusterMessage read = open_frozen(codec, golden("totals_request", datagram, 8));
  CHECK(read.type == core::MessageType::delta);
  CHECK(read.flags == 0x18);
  REQUIRE(read.updates);
  REQUIRE(read.updates->size() == 2);
  for (const core::WireUpdate& u : *read.updates) CHECK(u.count == 0);
}
