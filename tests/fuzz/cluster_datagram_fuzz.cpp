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
// configured bound. And what one datagram may do to the receiver's peer table, since one that
// passed the checksum or MAC may still be a replay (issue 20; check_membership below).
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
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/bounds.hpp"
#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "core/rights_ledger.hpp"
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
        rights(core::RightsSplit{3, 1, 0}),
        codec(codec_options(authenticated)),
        node(config(), codec_options(authenticated), store, origins) {
    node.replicator().set_overrides(&overrides);
    node.replicator().set_rights(&rights);
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
  core::RightsLedger rights;      // likewise: requests and grants of hard limits
  wire::ClusterCodec codec;       // the same options as the node's own
  wire::ClusterNode node;
  std::uint64_t sequence = 0;
  std::set<std::uint64_t> tokens_sent;  // of every heartbeat the node sent
};

// A window the store can hold: 1 ms to 31 days, or whole seconds up to 366 days.
bool window_storable(std::uint64_t window_ms) {
  constexpr std::uint64_t kDayMs = 24 * 3600 * 1000;
  return window_ms >= 1 && window_ms <= 366 * kDayMs &&
         (window_ms <= 31 * kDayMs || window_ms % 1000 == 0);
}

// What the replication relies on in an opened message.
void check_opened(const wire::DecodedDatagram& decoded) {
  const core::ClusterMessage& m = decoded.message;
  FUZZ_ASSERT(!m.sender_id.empty() && m.sender_id.size() <= 64);
  FUZZ_ASSERT(m.sender_address.size() <= 128);
  const auto type = static_cast<int>(m.type);
  FUZZ_ASSERT(type >= 1 && type <= static_cast<int>(core::MessageType::totals));
  if (m.type == core::MessageType::relay) {
    FUZZ_ASSERT(!m.relay_to.empty() && m.relay_to.size() <= 128);
    FUZZ_ASSERT(m.relay_payload && !m.relay_payload->empty() &&
                m.relay_payload->size() < kDatagramBytes);
  }
  FUZZ_ASSERT(m.overrides.empty() || m.type == core::MessageType::overrides);
  FUZZ_ASSERT(m.rights.empty() || m.type == core::MessageType::rights);
  // Counts open only in the types that carry them (protocol.md, key 9).
  FUZZ_ASSERT(!m.updates || m.type == core::MessageType::delta ||
              m.type == core::MessageType::repair || m.type == core::MessageType::totals);
  FUZZ_ASSERT(m.rights.size() <= bounds::rights_records_per_message_max);
  for (const core::RightsRecord& r : m.rights) {
    FUZZ_ASSERT(r.counter_id != 0 && window_storable(r.window_ms) && r.limit <= 0xffffffffULL);
  }
  for (const core::OverrideRecord& r : m.overrides) {
    FUZZ_ASSERT(!r.scope.policy.empty() && r.scope.policy.size() <= 64);
    FUZZ_ASSERT(r.scope.tier.size() <= 64 && r.scope.endpoint.size() <= 256);
    FUZZ_ASSERT(r.scope.window_ms == 0 || window_storable(r.scope.window_ms));
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
      FUZZ_ASSERT(window_storable(u.window_ms));
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
    FUZZ_ASSERT(r.relay_to == m.relay_to);
    FUZZ_ASSERT((r.relay_payload == nullptr) == (m.relay_payload == nullptr));
    if (r.relay_payload) FUZZ_ASSERT(*r.relay_payload == *m.relay_payload);
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
    // A datagram forwarded as a relay is the sender's bytes, whatever they are.
    if (out.forwarded) continue;
    // What the node sends, its own codec reads.
    wire::DecodedDatagram decoded;
    wire::DropReason reason{};
    FUZZ_ASSERT(n.codec.open(out.bytes, decoded, reason));
    check_opened(decoded);
    if (decoded.message.type == core::MessageType::heartbeat) {
      n.tokens_sent.insert(decoded.message.token);
    }
  }
  FUZZ_ASSERT(n.node.next_deadline() > now);
}

// The receiver's state around one datagram, at one instant.
struct Observed {
  std::vector<core::PeerStatus> peers;
  core::ReplicationStats replication;
  std::uint64_t replayed = 0;
};

Observed observe(const Node& n, core::MonoTime now) {
  return Observed{n.node.replicator().peers(now), n.node.replicator().stats(),
                  n.node.stats().dropped[static_cast<std::size_t>(wire::DropReason::replayed)]};
}

auto peer_fields(const core::PeerStatus& p) {
  return std::make_tuple(p.address, p.node_id, p.incarnation, p.state, p.last_heard_ms_ago,
                         p.rtt_us, p.clock_offset_ms, p.configured, p.syncing, p.synced,
                         p.hears_us);
}

bool same_peers(const std::vector<core::PeerStatus>& a, const std::vector<core::PeerStatus>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const auto& x, const auto& y) { return peer_fields(x) == peer_fields(y); });
}

const core::PeerStatus* peer_at(const std::vector<core::PeerStatus>& peers,
                                const std::string& address) {
  const auto it = std::find_if(peers.begin(), peers.end(),
                               [&](const core::PeerStatus& p) { return p.address == address; });
  return it == peers.end() ? nullptr : &*it;
}

// What one datagram, `m` as the node's codec opened it from `from`, may change in its peer table.
// A datagram that passed the checksum or MAC is genuine, but may be a replay: of this node's own,
// from any source; of another node's, from another source or captured on its way to another node.
void check_membership(const Node& n, const Observed& before, const Observed& after,
                      const wire::DecodedDatagram& decoded, const std::string& from) {
  const core::ClusterMessage& m = decoded.message;
  const core::ReplicationConfig& self = n.node.replicator().config();
  const bool unchanged = same_peers(before.peers, after.peers);
  const bool dropped_as_replay = after.replayed > before.replayed;

  // Our own datagram (any incarnation) changes nothing, wherever it comes from.
  if (m.sender_id == self.node_id) {
    FUZZ_ASSERT(unchanged);
    FUZZ_ASSERT(dropped_as_replay ||
                after.replication.messages_from_self == before.replication.messages_from_self + 1);
  }

  // A sender without an address, from a source that is not its entry's, while a peer at another
  // address stands for it and hears us: nothing changes (a forged source cannot add a member, nor
  // make another node's entry look restarted).
  const core::PeerStatus* at_source = peer_at(before.peers, from);
  const auto holds_sender = [&](const core::PeerStatus& p) {
    return p.node_id == m.sender_id && p.address != from;
  };
  if (m.sender_address.empty() && (at_source == nullptr || at_source->node_id != m.sender_id)) {
    if (std::any_of(before.peers.begin(), before.peers.end(),
                    [&](const auto& p) { return holds_sender(p) && p.hears_us; })) {
      FUZZ_ASSERT(unchanged);
    }
    // From a new source, while a learned entry stands for it: that entry moves (or nothing
    // changes), no entry is added.
    if (at_source == nullptr &&
        std::any_of(before.peers.begin(), before.peers.end(),
                    [&](const auto& p) { return holds_sender(p) && !p.configured; })) {
      const auto entries_of_sender = [&](const std::vector<core::PeerStatus>& peers) {
        return std::count_if(peers.begin(), peers.end(),
                             [&](const auto& p) { return p.node_id == m.sender_id; });
      };
      FUZZ_ASSERT(entries_of_sender(after.peers) <= entries_of_sender(before.peers));
    }
  }

  // The peer the datagram speaks for, as it stood before.
  const std::string& address = m.sender_address.empty() ? from : m.sender_address;
  const core::PeerStatus* sender = peer_at(before.peers, address);

  // A datagram from before the peer restarted (it is not down, nor gone) changes nothing.
  if (sender != nullptr && sender->node_id == m.sender_id &&
      m.sender_incarnation < sender->incarnation && sender->state != core::PeerState::down &&
      sender->state != core::PeerState::left) {
    FUZZ_ASSERT(unchanged);
  }

  // Nothing removes a configured entry: an alias merge moves the mark, it never drops it.
  const auto configured = [](const std::vector<core::PeerStatus>& peers) {
    return std::count_if(peers.begin(), peers.end(), [](const auto& p) { return p.configured; });
  };
  FUZZ_ASSERT(configured(after.peers) == configured(before.peers));

  // Every peer that was heard is still there (under a new address only if it was moved: an
  // address-less sender's learned entry, to the datagram's source), and at most one peer is
  // heard that was not (the sender's: member records add only peers never heard).
  const std::uint64_t moved = after.replication.peers_moved - before.replication.peers_moved;
  FUZZ_ASSERT(moved <= 1);
  std::size_t gone = 0;
  for (const core::PeerStatus& p : before.peers) {
    if (!p.node_id.empty() && peer_at(after.peers, p.address) == nullptr) {
      ++gone;
      FUZZ_ASSERT(moved == 1 && !p.configured && p.node_id == m.sender_id);
    }
  }
  FUZZ_ASSERT(gone == moved);
  std::size_t newly_heard = 0;
  for (const core::PeerStatus& p : after.peers) {
    const core::PeerStatus* was = peer_at(before.peers, p.address);
    if (!p.node_id.empty() && (was == nullptr || was->node_id.empty())) {
      ++newly_heard;
      FUZZ_ASSERT(p.node_id == m.sender_id);
      FUZZ_ASSERT(p.address == address);
    }
  }
  FUZZ_ASSERT(newly_heard <= 1);

  // A peer comes to hear us only by echoing a token of ours, and one peer per datagram.
  std::size_t came_to_hear = 0;
  for (const core::PeerStatus& p : after.peers) {
    const core::PeerStatus* was = peer_at(before.peers, p.address);
    if (p.hears_us && (was == nullptr || !was->hears_us)) {
      ++came_to_hear;
      FUZZ_ASSERT(m.type == core::MessageType::ack && n.tokens_sent.count(m.token) == 1);
    }
  }
  FUZZ_ASSERT(came_to_hear <= 1);

  // Flags that speak of the receiver count only in a datagram addressed to it: one captured on
  // its way to another node neither makes its sender synced nor starts a sync to it.
  if (decoded.destination_tag != wire::destination_tag(self.address)) {
    for (const core::PeerStatus& p : after.peers) {
      const core::PeerStatus* was = peer_at(before.peers, p.address);
      FUZZ_ASSERT(!p.synced || (was != nullptr && was->synced));
    }
    if (sender != nullptr && sender->node_id == m.sender_id &&
        sender->incarnation == m.sender_incarnation && sender->state == core::PeerState::alive &&
        !sender->syncing && peer_at(after.peers, address) != nullptr) {
      FUZZ_ASSERT(!peer_at(after.peers, address)->syncing);
    }
  }
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
    const Observed before = observe(n, now);
    n.node.on_datagram(now, wall, from, datagram);
    FUZZ_ASSERT(n.node.stats().received == received + 1);
    wire::DecodedDatagram decoded;
    wire::DropReason reason{};
    if (n.codec.open(datagram, decoded, reason)) {
      check_membership(n, before, observe(n, now), decoded, from);
    } else {
      FUZZ_ASSERT(same_peers(before.peers, n.node.replicator().peers(now)));
    }
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
