// The overrides message (type 5) of the cluster codec: round trips, splitting, bounds, and
// hostile bodies, which are dropped whole as malformed.
#include <doctest/doctest.h>

#include <msgpack.hpp>

#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "wire/cluster_codec.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

core::OverrideRecord record_of(std::string policy, core::OverrideKind kind, std::uint64_t value,
                               std::string node_id) {
  core::OverrideRecord r;
  r.scope.policy = std::move(policy);
  r.kind = kind;
  r.value = value;
  r.set_wall_ms = 1'800'000'000'000;
  r.expires_wall_ms = 1'800'000'900'000;
  r.retain_until_wall_ms = 1'800'000'900'000;
  r.reason = "incident 42";
  r.stamp = core::HlcStamp{1'800'000'000'000, 3, std::move(node_id)};
  return r;
}

// Every field, so that two records compare whole.
auto fields(const core::OverrideRecord& r) {
  return std::make_tuple(r.scope, r.kind, r.value, r.set_wall_ms, r.expires_wall_ms,
                         r.retain_until_wall_ms, r.reason, r.stamp);
}

core::ClusterMessage overrides_message(std::vector<core::OverrideRecord> records) {
  core::ClusterMessage m;
  m.type = core::MessageType::overrides;
  m.sender_id = "node-a";
  m.sender_incarnation = 1'800'000'000'123'456ULL;
  m.sender_address = "10.0.0.1:7001";
  m.sent_wall_ms = 1'800'000'000'000;
  m.overrides = std::move(records);
  return m;
}

// The records of `m` as a receiver gets them, in order, through datagrams of `codec`.
std::vector<core::OverrideRecord> round_trip(const ClusterCodec& codec,
                                             const core::ClusterMessage& m, std::size_t* datagrams,
                                             std::size_t* left_out, std::size_t datagram_bytes) {
  const std::vector<std::string> bodies = codec.encode_bodies(m, left_out);
  *datagrams = bodies.size();
  std::vector<core::OverrideRecord> out;
  std::uint64_t sequence = 0;
  for (const std::string& body : bodies) {
    const std::string datagram = codec.seal(body, ++sequence, 7);
    CHECK(datagram.size() <= datagram_bytes);
    DecodedDatagram decoded;
    DropReason reason{};
    REQUIRE(codec.open(datagram, decoded, reason));
    CHECK(decoded.message.type == core::MessageType::overrides);
    CHECK(decoded.message.sender_id == m.sender_id);
    CHECK(decoded.message.sent_wall_ms == m.sent_wall_ms);
    CHECK_FALSE(decoded.message.updates);
    out.insert(out.end(), decoded.message.overrides.begin(), decoded.message.overrides.end());
  }
  return out;
}

// A body of an overrides message with one record, whose fields are the defaults below except
// where `field` packs a value of its own (it returns true), and `count` fields in all.
using Packer = msgpack::packer<msgpack::sbuffer>;
std::string body_with(const std::function<bool(Packer&, int)>& field, int count = 13,
                      std::uint64_t type = 5) {
  msgpack::sbuffer buffer;
  Packer pk(buffer);
  pk.pack_map(7);
  pk.pack_uint8(0);
  pk.pack_uint64(type);
  pk.pack_uint8(1);
  pk.pack(std::string("node-a"));
  pk.pack_uint8(2);
  pk.pack_uint64(9);
  pk.pack_uint8(4);
  pk.pack(std::string("10.0.0.1:7001"));
  pk.pack_uint8(5);
  pk.pack_int64(1'800'000'000'000);
  pk.pack_uint8(6);
  pk.pack_uint64(0);
  pk.pack_uint8(11);
  pk.pack_array(1);
  pk.pack_array(static_cast<std::uint32_t>(count));
  for (int i = 0; i < count; ++i) {
    if (field(pk, i)) continue;
    switch (i) {
      case 0:
        pk.pack(std::string("api"));
        break;
      case 1:
        pk.pack(std::string("free"));
        break;
      case 2:
        pk.pack(std::string("POST /login"));
        break;
      case 3:
        pk.pack_uint32(60'000);
        break;
      case 4:
        pk.pack_uint8(1);
        break;
      case 5:
        pk.pack_uint64(50);
        break;
      case 6:
        pk.pack_int64(1'800'000'000'000);
        break;
      case 7:
        pk.pack_int64(1'800'000'900'000);
        break;
      case 8:
        pk.pack_int64(1'800'000'900'000);
        break;
      case 9:
        pk.pack(std::string("incident 42"));
        break;
      case 10:
        pk.pack_int64(1'800'000'000'000);
        break;
      case 11:
        pk.pack_uint32(0);
        break;
      case 12:
        pk.pack(std::string("node-a"));
        break;
      default:
        pk.pack_nil();
        break;
    }
  }
  return std::string(buffer.data(), buffer.size());
}

bool opens(const std::string& body, DecodedDatagram& decoded, DropReason& reason) {
  const ClusterCodec codec(CodecOptions{});
  return codec.open(codec.seal(body, 1, 7), decoded, reason);
}

}  // namespace

TEST_CASE("cluster codec overrides: every field of every kind survives the round trip") {
  ClusterCodec codec(CodecOptions{});
  core::OverrideRecord limit = record_of("api", core::OverrideKind::limit, 50, "node-a");
  limit.scope.tier = "free";
  limit.scope.endpoint = "POST /login";
  limit.scope.window_ms = 60'000;
  core::OverrideRecord factor = record_of("api", core::OverrideKind::factor, 500, "node-b");
  factor.stamp.logical = 0xffff'ffffU;
  factor.scope.window_ms = static_cast<std::uint32_t>(31ULL * 24 * 3600 * 1000);
  core::OverrideRecord tombstone = record_of("search", core::OverrideKind::cleared, 0, "node-c");
  tombstone.reason = "";
  tombstone.retain_until_wall_ms = tombstone.expires_wall_ms + 3'600'000;
  core::OverrideRecord early = record_of("old", core::OverrideKind::limit, 1, "n");
  early.set_wall_ms = -5;  // a clock before 1970 travels as it is; the table judges it
  early.expires_wall_ms = -1;
  early.retain_until_wall_ms = 0;
  early.stamp.wall_ms = -5;
  core::OverrideRecord huge =
      record_of(std::string(64, 'p'), core::OverrideKind::limit, UINT64_MAX, std::string(64, 'n'));
  huge.scope.tier = std::string(64, 't');
  huge.scope.endpoint = std::string(256, 'e');
  huge.reason = std::string(256, 'r');
  const std::vector<core::OverrideRecord> sent{limit, factor, tombstone, early, huge};

  std::size_t datagrams = 0;
  std::size_t left_out = 0;
  const auto got = round_trip(codec, overrides_message(sent), &datagrams, &left_out, 1400);
  CHECK(left_out == 0);
  CHECK(datagrams == 1);
  REQUIRE(got.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    CAPTURE(i);
    CHECK(fields(got[i]) == fields(sent[i]));
  }
}

TEST_CASE("cluster codec overrides: a full table is split into datagrams within the bound") {
  for (bool keyed : {false, true}) {
    CodecOptions options;
    if (keyed) options.keys.push_back(ClusterKey{});
    ClusterCodec codec(options);
    std::vector<core::OverrideRecord> sent;
    for (int i = 0; i < 1024; ++i) {
      core::OverrideRecord r =
          record_of("policy-" + std::to_string(i % 97), core::OverrideKind::factor, 250 + i,
                    "node-" + std::to_string(i % 5));
      r.scope.endpoint = "GET /v1/items/" + std::to_string(i);
      r.reason = std::string(static_cast<std::size_t>(i % 200), 'x');
      sent.push_back(r);
    }
    std::size_t datagrams = 0;
    std::size_t left_out = 0;
    const auto got = round_trip(codec, overrides_message(sent), &datagrams, &left_out, 1400);
    CHECK(left_out == 0);
    CHECK(datagrams > 1);
    REQUIRE(got.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) CHECK(fields(got[i]) == fields(sent[i]));
  }
}

TEST_CASE("cluster codec overrides: the largest record fits 1046-byte datagrams with a key") {
  // Longest sender id, address and every field of a record at its bound: the smallest
  // datagram_bytes that carries every record (docs/protocol.md).
  core::OverrideRecord huge =
      record_of(std::string(64, 'p'), core::OverrideKind::factor, UINT64_MAX, std::string(64, 'n'));
  huge.scope.tier = std::string(64, 't');
  huge.scope.endpoint = std::string(256, 'e');
  huge.set_wall_ms = huge.expires_wall_ms = huge.retain_until_wall_ms = -1;
  huge.stamp.wall_ms = -1;
  huge.stamp.logical = UINT32_MAX;
  huge.reason = std::string(256, 'r');
  huge.scope.window_ms = static_cast<std::uint32_t>(31ULL * 24 * 3600 * 1000);
  core::ClusterMessage m = overrides_message({huge});
  m.sender_id = std::string(64, 's');
  m.sender_address = std::string(128, 'a');
  m.sender_incarnation = UINT64_MAX;
  m.sent_wall_ms = -1;
  m.token = UINT64_MAX;
  m.flags = 0xff;
  for (std::size_t bytes : {std::size_t{1046}, std::size_t{1045}}) {
    CodecOptions options;
    options.keys.push_back(ClusterKey{});
    options.datagram_bytes_max = bytes;
    ClusterCodec codec(options);
    std::size_t datagrams = 0;
    std::size_t left_out = 0;
    const auto got = round_trip(codec, m, &datagrams, &left_out, bytes);
    CAPTURE(bytes);
    CHECK(datagrams == 1);
    CHECK(got.size() == (bytes == 1046 ? 1U : 0U));
    CHECK(left_out == (bytes == 1046 ? 0U : 1U));
  }
  // A window of 2^32 ms or more is a 9-byte integer instead of 5: 4 bytes more.
  m.overrides[0].scope.window_ms = 366ULL * 24 * 3600 * 1000;
  for (std::size_t bytes : {std::size_t{1050}, std::size_t{1049}}) {
    CodecOptions options;
    options.keys.push_back(ClusterKey{});
    options.datagram_bytes_max = bytes;
    ClusterCodec codec(options);
    std::size_t datagrams = 0;
    std::size_t left_out = 0;
    const auto got = round_trip(codec, m, &datagrams, &left_out, bytes);
    CAPTURE(bytes);
    CHECK(got.size() == (bytes == 1050 ? 1U : 0U));
    CHECK(left_out == (bytes == 1050 ? 0U : 1U));
  }
}

TEST_CASE(
    "cluster codec overrides: records of windows over 31 days travel last, in datagrams of their "
    "own") {
  // A node from before such windows drops a datagram holding one as malformed: it still gets
  // every other record.
  ClusterCodec codec(CodecOptions{});
  constexpr std::uint64_t kDayMs = 86'400'000;
  std::vector<core::OverrideRecord> sent;
  for (const std::uint64_t window_ms : {366 * kDayMs, std::uint64_t{0}, 365 * kDayMs, 31 * kDayMs,
                                        32 * kDayMs, std::uint64_t{60'000}}) {
    sent.push_back(record_of("api", core::OverrideKind::limit, 10, "node-a"));
    sent.back().scope.window_ms = window_ms;
  }
  const std::vector<std::string> bodies = codec.encode_bodies(overrides_message(sent));
  REQUIRE(bodies.size() == 2);
  std::vector<std::vector<std::uint64_t>> windows;
  for (const std::string& body : bodies) {
    DecodedDatagram decoded;
    DropReason reason{};
    REQUIRE(codec.open(codec.seal(body, windows.size() + 1, 7), decoded, reason));
    windows.emplace_back();
    for (const auto& r : decoded.message.overrides) windows.back().push_back(r.scope.window_ms);
  }
  CHECK(windows[0] == std::vector<std::uint64_t>{0, 31 * kDayMs, 60'000});
  CHECK(windows[1] == std::vector<std::uint64_t>{366 * kDayMs, 365 * kDayMs, 32 * kDayMs});
}

TEST_CASE("cluster codec overrides: a record too large for the datagram is left out, counted") {
  CodecOptions options;
  options.datagram_bytes_max = 512;
  ClusterCodec codec(options);
  core::OverrideRecord small = record_of("api", core::OverrideKind::limit, 10, "node-a");
  core::OverrideRecord large = record_of("api", core::OverrideKind::limit, 10, "node-a");
  large.scope.endpoint = std::string(256, 'e');
  large.reason = std::string(256, 'r');
  std::size_t datagrams = 0;
  std::size_t left_out = 0;
  const auto got =
      round_trip(codec, overrides_message({small, large, small}), &datagrams, &left_out, 512);
  CHECK(left_out == 1);
  REQUIRE(got.size() == 2);
  CHECK(fields(got[0]) == fields(small));
}

TEST_CASE("cluster codec overrides: records a receiver would refuse are never sent") {
  ClusterCodec codec(CodecOptions{});
  const core::OverrideRecord good = record_of("api", core::OverrideKind::limit, 10, "node-a");
  std::vector<core::OverrideRecord> bad(8, good);
  bad[0].scope.policy = "";
  bad[1].scope.policy = std::string(65, 'p');
  bad[2].retain_until_wall_ms = bad[2].expires_wall_ms - 1;
  bad[3].stamp.node_id = "";
  bad[4].reason = std::string(257, 'r');
  bad[5].kind = static_cast<core::OverrideKind>(3);
  bad[6].scope.window_ms = 367ULL * 24 * 3600 * 1000;
  bad[7].scope.window_ms = 31ULL * 24 * 3600 * 1000 + 1;
  std::vector<core::OverrideRecord> sent = bad;
  sent.push_back(good);
  std::size_t datagrams = 0;
  std::size_t left_out = 0;
  const auto got = round_trip(codec, overrides_message(sent), &datagrams, &left_out, 1400);
  CHECK(left_out == bad.size());
  REQUIRE(got.size() == 1);
  CHECK(fields(got[0]) == fields(good));
}

TEST_CASE("cluster codec overrides: an empty table is one datagram with no records") {
  ClusterCodec codec(CodecOptions{});
  std::size_t datagrams = 0;
  std::size_t left_out = 0;
  const auto got = round_trip(codec, overrides_message({}), &datagrams, &left_out, 1400);
  CHECK(datagrams == 1);
  CHECK(got.empty());
}

TEST_CASE("cluster codec overrides: the hand-built reference body opens") {
  DecodedDatagram decoded;
  DropReason reason{};
  REQUIRE(opens(body_with([](Packer&, int) { return false; }), decoded, reason));
  REQUIRE(decoded.message.overrides.size() == 1);
  const core::OverrideRecord& r = decoded.message.overrides[0];
  CHECK(r.scope.endpoint == "POST /login");
  CHECK(r.kind == core::OverrideKind::limit);
  CHECK(r.value == 50);
  CHECK(r.stamp.node_id == "node-a");
}

TEST_CASE("cluster codec overrides: a malformed record drops the whole datagram as malformed") {
  struct Case {
    const char* what;
    int field;
    std::function<void(Packer&)> pack;
  };
  const auto text = [](std::size_t bytes) {
    return [bytes](Packer& pk) { pk.pack(std::string(bytes, 'x')); };
  };
  const std::vector<Case> cases = {
      {"empty policy", 0, text(0)},
      {"policy of 65 bytes", 0, text(65)},
      {"tier of 65 bytes", 1, text(65)},
      {"endpoint of 257 bytes", 2, text(257)},
      {"window above 366 days", 3,
       [](Packer& pk) { pk.pack_uint64(366ULL * 24 * 3600 * 1000 + 1000); }},
      {"window above 31 days, not whole seconds", 3,
       [](Packer& pk) { pk.pack_uint64(31ULL * 24 * 3600 * 1000 + 1); }},
      {"negative window", 3, [](Packer& pk) { pk.pack_int64(-1); }},
      {"kind 3", 4, [](Packer& pk) { pk.pack_uint8(3); }},
      {"value as a string", 5, text(2)},
      {"negative value", 5, [](Packer& pk) { pk.pack_int64(-1); }},
      {"set time as a float", 6, [](Packer& pk) { pk.pack_double(1.5); }},
      {"retain before expiry", 8, [](Packer& pk) { pk.pack_int64(1'800'000'899'999); }},
      {"reason of 257 bytes", 9, text(257)},
      {"stamp wall above int64", 10, [](Packer& pk) { pk.pack_uint64(UINT64_MAX); }},
      {"logical above 32 bits", 11, [](Packer& pk) { pk.pack_uint64(1ULL << 32); }},
      {"empty node id", 12, text(0)},
      {"node id of 65 bytes", 12, text(65)},
      {"node id as nil", 12, [](Packer& pk) { pk.pack_nil(); }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    DecodedDatagram decoded;
    DropReason reason{};
    const std::string body = body_with([&](Packer& pk, int i) {
      if (i != c.field) return false;
      c.pack(pk);
      return true;
    });
    CHECK_FALSE(opens(body, decoded, reason));
    CHECK(reason == DropReason::malformed);
  }
  for (int count : {0, 12, 14}) {
    CAPTURE(count);
    DecodedDatagram decoded;
    DropReason reason{};
    CHECK_FALSE(opens(body_with([](Packer&, int) { return false; }, count), decoded, reason));
    CHECK(reason == DropReason::malformed);
  }
  DecodedDatagram decoded;
  DropReason reason{};
  CHECK_FALSE(opens(body_with([](Packer&, int) { return false; }, 13, 6), decoded, reason));
  CHECK(reason == DropReason::malformed);  // no type 6 yet
}

TEST_CASE("cluster codec overrides: records in a message of another type are ignored") {
  DecodedDatagram decoded;
  DropReason reason{};
  REQUIRE(opens(body_with([](Packer&, int) { return false; }, 13, 1), decoded, reason));
  CHECK(decoded.message.type == core::MessageType::heartbeat);
  CHECK(decoded.message.overrides.empty());
}

namespace {

core::OverrideRecord key_record_of(core::OverrideKind kind, std::string key) {
  core::OverrideRecord r = record_of("api", kind, kind == core::OverrideKind::limit ? 3 : 0, "n1");
  r.scope.key = std::move(key);
  if (kind == core::OverrideKind::reset) {
    r.scope.counts_reset = true;
    r.marks = {{0x1234'5678'9abc'def0ULL, 60'000, 30'000'000, 57, 0},
               {7, 1000, 1'800'000'000, 1, 0xffff'ffffULL}};
  }
  return r;
}

// The field numbers of a body's root map.
std::vector<std::uint64_t> root_fields(std::string_view body) {
  const msgpack::object_handle handle = msgpack::unpack(body.data(), body.size());
  std::vector<std::uint64_t> out;
  for (std::uint32_t i = 0; i < handle.get().via.map.size; ++i) {
    out.push_back(handle.get().via.map.ptr[i].key.via.u64);
  }
  return out;
}

}  // namespace

TEST_CASE(
    "cluster codec overrides: key overrides and resets travel whole, in bodies of their "
    "own after the policy records, under a field that older nodes ignore") {
  ClusterCodec codec(CodecOptions{});
  const core::OverrideRecord policy = record_of("api", core::OverrideKind::limit, 50, "n1");
  const core::OverrideRecord block = key_record_of(core::OverrideKind::block, "bob");
  const core::OverrideRecord reset = key_record_of(core::OverrideKind::reset, "alice");
  core::OverrideRecord tombstone =
      key_record_of(core::OverrideKind::cleared, std::string(256, 'k'));
  tombstone.scope.counts_reset = true;  // an expired reset
  const core::ClusterMessage m = overrides_message({block, policy, reset, tombstone});

  const std::vector<std::string> bodies = codec.encode_bodies(m, nullptr);
  REQUIRE(bodies.size() == 2);
  CHECK(root_fields(bodies[0]).back() == 11);  // the policy record, as before key records
  CHECK(root_fields(bodies[1]).back() == 12);  // the key records

  std::size_t datagrams = 0;
  std::size_t left_out = 0;
  const auto got = round_trip(codec, m, &datagrams, &left_out, 1400);
  CHECK(left_out == 0);
  REQUIRE(got.size() == 4);
  CHECK(fields(got[0]) == fields(policy));
  CHECK(fields(got[1]) == fields(block));
  CHECK(fields(got[2]) == fields(reset));
  CHECK(got[2].marks == reset.marks);
  CHECK(fields(got[3]) == fields(tombstone));
  CHECK(got[3].scope.counts_reset);
}

TEST_CASE(
    "cluster codec overrides: a block or a reset in the policy list, or a hostile key "
    "record, drops the datagram as malformed") {
  DecodedDatagram decoded;
  DropReason reason{};
  // Kind 3 (block) where only policy-scoped records go.
  CHECK_FALSE(opens(body_with([](Packer& pk, int i) {
                      if (i != 4) return false;
                      pk.pack_uint8(3);
                      return true;
                    }),
                    decoded, reason));
  CHECK(reason == DropReason::malformed);

  // Key records with a broken tail: an empty key, counts_reset not a bool, marks not whole.
  const auto key_body = [](const std::function<void(Packer&)>& tail) {
    msgpack::sbuffer buffer;
    Packer pk(buffer);
    pk.pack_map(3);
    pk.pack_uint8(0);
    pk.pack_uint64(5);
    pk.pack_uint8(1);
    pk.pack(std::string("node-a"));
    pk.pack_uint8(12);
    pk.pack_array(1);
    pk.pack_array(16);
    pk.pack(std::string("api"));
    pk.pack(std::string(""));
    pk.pack(std::string(""));
    pk.pack_uint8(0);
    pk.pack_uint8(4);  // reset
    pk.pack_uint8(0);
    pk.pack_int64(1'800'000'000'000);
    pk.pack_int64(1'800'000'900'000);
    pk.pack_int64(1'800'000'900'000);
    pk.pack(std::string(""));
    pk.pack_int64(1'800'000'000'000);
    pk.pack_uint8(0);
    pk.pack(std::string("node-a"));
    tail(pk);
    return std::string(buffer.data(), buffer.size());
  };
  CHECK(opens(key_body([](Packer& pk) {
                pk.pack(std::string("alice"));
                pk.pack(true);
                pk.pack_array(5);
                for (std::uint64_t v : {9ULL, 60'000ULL, 1ULL, 2ULL, 0ULL}) pk.pack_uint64(v);
              }),
              decoded, reason));
  REQUIRE(decoded.message.overrides.size() == 1);
  CHECK(decoded.message.overrides[0].marks.size() == 1);
  CHECK_FALSE(opens(key_body([](Packer& pk) {
                      pk.pack(std::string(""));
                      pk.pack(true);
                      pk.pack_array(0);
                    }),
                    decoded, reason));
  CHECK_FALSE(opens(key_body([](Packer& pk) {
                      pk.pack(std::string("alice"));
                      pk.pack_uint8(1);
                      pk.pack_array(0);
                    }),
                    decoded, reason));
  CHECK_FALSE(opens(key_body([](Packer& pk) {
                      pk.pack(std::string("alice"));
                      pk.pack(true);
                      pk.pack_array(4);
                      for (int v = 1; v <= 4; ++v) pk.pack_uint64(static_cast<std::uint64_t>(v));
                    }),
                    decoded, reason));
  CHECK(reason == DropReason::malformed);
}
