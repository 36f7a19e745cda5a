// Fuzzes the cluster protocol as drld's UDP driver sees it: datagrams into
// ClusterNode::on_datagram, with a real counter store, origin table and override table, for a node
// with checksums only and for a node with a cluster key; every datagram also goes through
// ClusterCodec::open directly, and what opens is encoded again and must open again. Timers in
// between make the nodes answer, gossip and repair, so that what hostile datagrams taught them
// (members, origins, counts, overrides) is encoded too.
//
// Invariants: nothing crashes, leaks or throws; a datagram the codec opens has the bounded fields
// the replication relies on; a decoded message re-encodes into datagrams that open and carry the
// same header fields, updates and override records; a node's datagrams are never larger than the
// configured bound.
//
// Input: records of [control byte][2-byte big-endian length][payload]. Control bits:
//   bit 0     the node: 0 checksums only, 1 authenticated (with the key of the golden files)
//   bit 1     0: the payload is [sequence step, int8][body], sealed by the harness with a valid
//             checksum or MAC (so that mutated bodies reach the msgpack decoder); 1: the payload
//             is a raw datagram, as it arrived
//   bit 2     run the node's timer afterwards and encode what it sends
//   bit 3     sealed for another destination (a wrong destination tag)
//   bits 4-5  which of four source addresses it came from
//   bits 6-7  time that passes before it: 0, 1 ms, 100 ms or 5 s
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "fuzz_assert.hpp"
#include "wire/cluster_codec.hpp"
#include "wire/cluster_node.hpp"

namespace {

using namespace drl;

constexpr std::string_view kAddress = "192.0.2.2:7001";  // as in tests/golden/cluster_v1
constexpr std::array<std::string_view, 4> kSources = {"192.0.2.1:7001", "192.0.2.3:7001",
                                                      "192.0.2.2:7001", "[2001:db8::1]:7001"};
constexpr std::array<std::int64_t, 4> kAdvanceMs = {0, 1, 100, 5000};
constexpr std::size_t kDatagramBytes = 1400;

wire::ClusterKey golden_key() {
  wire::ClusterKey key;
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i);
  return key;
}

wire::CodecOptions codec_options(bool authenticated) {
  wire::CodecOptions options;
  options.datagram_bytes_max = kDatagramBytes;
  if (authenticated) options.keys.push_back(golden_key());
  return options;
}

// One node under test: its own store and origin table, fresh for every input.
struct Node {
  explicit Node(bool authenticated)
      : store(core::StoreOptions{256, 4, true}),
        origins(core::Origin{"node-b", 1'800'000'000'000'002ULL}, 16),
        overrides("node-b", override_limits()),
        codec(codec_options(authenticated)),
        node(config(), codec_options(authenticated), store, origins) {
    node.replicator().set_overrides(&overrides);
  }

  static core::OverrideLimits override_limits() {
    core::OverrideLimits limits;
    limits.records_max = 16;  // small, so that inputs reach the bound
    return limits;
  }

  static core::ReplicationConfig config() {
    core::ReplicationConfig config;
    config.node_id = "node-b";
    config.incarnation = 1'800'000'000'000'002ULL;
    config.address = std::string(kAddress);
    config.seeds = {"192.0.2.1:7001", "192.0.2.3:7001"};
    config.gossip_interval_ms = 5;
    config.heartbeat_interval_ms = 200;
    config.suspect_after_ms = 1000;
    config.down_after_ms = 3000;
    config.forget_after_ms = 10'000;
    config.repair_interval_ms = 100;
    config.repair_updates_per_interval = 64;
    config.peers_max = 8;
    config.origin_retire_after_ms = 60'000;
    config.override_sync_interval_ms = 1000;
    return config;
  }

  core::CounterStore store;
  core::OriginTable origins;
  core::OverrideTable overrides;  // outlives the node, which points to it
  wire::ClusterCodec codec;       // the same options as the node's own
  wire::ClusterNode node;
  std::uint64_t sequence = 0;
};

// What the replication relies on in an opened message.
void check_opened(const wire::DecodedDatagram& decoded) {
  const core::ClusterMessage& m = decoded.message;
  FUZZ_ASSERT(!m.sender_id.empty() && m.sender_id.size() <= 64);
  FUZZ_ASSERT(m.sender_address.size() <= 128);
  const auto type = static_cast<int>(m.type);
  FUZZ_ASSERT(type >= 1 && type <= 5);
  FUZZ_ASSERT(m.overrides.empty() || m.type == core::MessageType::overrides);
  for (const core::OverrideRecord& r : m.overrides) {
    FUZZ_ASSERT(!r.scope.policy.empty() && r.scope.policy.size() <= 64);
    FUZZ_ASSERT(r.scope.tier.size() <= 64 && r.scope.endpoint.size() <= 256);
    FUZZ_ASSERT(r.scope.window_ms <= 31ULL * 24 * 3600 * 1000);
    FUZZ_ASSERT(static_cast<int>(r.kind) <= 2);
    FUZZ_ASSERT(r.retain_until_wall_ms >= r.expires_wall_ms);
    FUZZ_ASSERT(r.reason.size() <= 256);
    FUZZ_ASSERT(!r.stamp.node_id.empty() && r.stamp.node_id.size() <= 64);
  }
  for (const core::Origin& origin : m.origins) FUZZ_ASSERT(!origin.node_id.empty());
  if (m.updates) {
    for (const core::WireUpdate& u : *m.updates) {
      FUZZ_ASSERT(u.origin < m.origins.size());
      FUZZ_ASSERT(u.counter_id != 0);
      FUZZ_ASSERT(u.window_ms >= 1 && u.window_ms <= 31ULL * 24 * 3600 * 1000);
    }
  }
}

using ResolvedUpdate = std::tuple<std::uint64_t, std::uint32_t, std::uint64_t, std::string,
                                  std::uint64_t, std::uint32_t>;

std::vector<ResolvedUpdate> resolved(const core::ClusterMessage& m) {
  std::vector<ResolvedUpdate> out;
  if (!m.updates) return out;
  for (const core::WireUpdate& u : *m.updates) {
    const core::Origin& origin = m.origins[u.origin];
    out.emplace_back(u.counter_id, u.window_ms, u.window_id, origin.node_id, origin.incarnation,
                     u.count);
  }
  std::sort(out.begin(), out.end());
  return out;
}

auto override_fields(const core::OverrideRecord& r) {
  return std::make_tuple(r.scope, r.kind, r.value, r.set_wall_ms, r.expires_wall_ms,
                         r.retain_until_wall_ms, r.reason, r.stamp);
}

// A decoded message, encoded again, opens again with the same header fields and updates (an
// overrides message: the same records, in order).
void check_round_trip(const wire::ClusterCodec& codec, const core::ClusterMessage& m) {
  std::size_t overrides_left_out = 0;
  const std::vector<std::string> bodies = codec.encode_bodies(m, &overrides_left_out);
  FUZZ_ASSERT(!bodies.empty());
  // Every record that opened fits a datagram of the harness's size again.
  FUZZ_ASSERT(overrides_left_out == 0);
  const bool overrides = m.type == core::MessageType::overrides;
  std::vector<core::OverrideRecord> records;
  core::ClusterMessage joined;
  auto updates = std::make_shared<std::vector<core::WireUpdate>>();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const std::string datagram = codec.seal(bodies[i], i + 1, wire::destination_tag(kAddress));
    FUZZ_ASSERT(datagram.size() <= kDatagramBytes);
    wire::DecodedDatagram again;
    wire::DropReason reason{};
    FUZZ_ASSERT(codec.open(datagram, again, reason));
    FUZZ_ASSERT(again.sequence == i + 1);
    const core::ClusterMessage& r = again.message;
    FUZZ_ASSERT(r.type == m.type && r.sender_id == m.sender_id &&
                r.sender_incarnation == m.sender_incarnation &&
                r.sender_address == m.sender_address && r.sent_wall_ms == m.sent_wall_ms &&
                r.token == m.token);
    if (i + 1 == bodies.size()) FUZZ_ASSERT(r.flags == m.flags);
    for (const core::MemberRecord& member : r.members) {
      FUZZ_ASSERT(std::any_of(m.members.begin(), m.members.end(), [&](const auto& x) {
        return x.node_id == member.node_id && x.incarnation == member.incarnation &&
               x.address == member.address;
      }));
    }
    records.insert(records.end(), r.overrides.begin(), r.overrides.end());
    for (const ResolvedUpdate& u : resolved(r)) {
      joined.origins.push_back(core::Origin{std::get<3>(u), std::get<4>(u)});
      updates->push_back(core::WireUpdate{std::get<0>(u), std::get<1>(u), std::get<2>(u),
                                          static_cast<std::uint32_t>(joined.origins.size() - 1),
                                          std::get<5>(u)});
    }
  }
  joined.updates = updates;
  // An overrides message carries records only: updates that came with it are not sent again.
  if (overrides) {
    FUZZ_ASSERT(records.size() == m.overrides.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      FUZZ_ASSERT(override_fields(records[i]) == override_fields(m.overrides[i]));
    }
    FUZZ_ASSERT(resolved(joined).empty());
  } else {
    FUZZ_ASSERT(records.empty());
    FUZZ_ASSERT(resolved(joined) == resolved(m));
  }
}

void run_timer(Node& n, core::MonoTime now, core::WallTime wall) {
  n.node.on_timer(now, wall);
  for (const wire::OutgoingDatagram& out : n.node.take_datagrams()) {
    FUZZ_ASSERT(out.bytes.size() <= kDatagramBytes);
    // What the node sends, its own codec reads.
    wire::DecodedDatagram decoded;
    wire::DropReason reason{};
    FUZZ_ASSERT(n.codec.open(out.bytes, decoded, reason));
    check_opened(decoded);
  }
  FUZZ_ASSERT(n.node.next_deadline() > now);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Node plain(false);
  Node keyed(true);
  core::MonoTime now{1'000'000'000};
  core::WallTime wall{1'800'000'000'000};
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  std::size_t at = 0;
  while (size - at >= 3) {
    const std::uint8_t control = data[at];
    const std::size_t length =
        std::min<std::size_t>((std::size_t{data[at + 1]} << 8) | data[at + 2], size - at - 3);
    const std::string_view payload = input.substr(at + 3, length);
    at += 3 + length;

    Node& n = (control & 0x01) != 0 ? keyed : plain;
    const std::int64_t advance_ms = kAdvanceMs[(control >> 6) & 3];
    now.ns += advance_ms * 1'000'000;
    wall.unix_ms += advance_ms;
    const std::string from(kSources[(control >> 4) & 3]);

    std::string datagram;
    if ((control & 0x02) != 0) {
      datagram = std::string(payload);
    } else if (!payload.empty()) {
      n.sequence += static_cast<std::uint64_t>(static_cast<std::int8_t>(payload[0]));
      const std::string_view destination = (control & 0x08) != 0 ? "192.0.2.9:7001" : kAddress;
      datagram = n.codec.seal(payload.substr(1), n.sequence, wire::destination_tag(destination));
    }

    // The codecs directly: the same verdict as the node's, and what opens is sane.
    for (const Node* codec_node : {&plain, &keyed}) {
      wire::DecodedDatagram decoded;
      wire::DropReason reason{};
      if (codec_node->codec.open(datagram, decoded, reason)) {
        check_opened(decoded);
        check_round_trip(codec_node->codec, decoded.message);
      } else {
        FUZZ_ASSERT(reason < wire::DropReason::count_ && reason != wire::DropReason::replayed);
        // A datagram the harness sealed for this codec fails only in its body.
        if ((control & 0x02) == 0 && codec_node == &n && !payload.empty()) {
          FUZZ_ASSERT(reason == wire::DropReason::malformed ||
                      reason == wire::DropReason::truncated);
        }
      }
    }

    const std::uint64_t received = n.node.stats().received;
    n.node.on_datagram(now, wall, from, datagram);
    FUZZ_ASSERT(n.node.stats().received == received + 1);
    if ((control & 0x04) != 0) run_timer(n, now, wall);
  }
  // Both nodes gossip what they learned, and are then left idle long enough to mark peers down
  // and repair.
  for (Node* n : {&plain, &keyed}) {
    run_timer(*n, now, wall);
    run_timer(*n, core::MonoTime{now.ns + 4'000'000'000}, core::WallTime{wall.unix_ms + 4000});
  }
  return 0;
}
