// The membership half of Replicator: which peers exist, at which address, in which state, and
// the heartbeats that probe them (see replicator.hpp). Message intake and timers are in
// replicator.cpp, what is sent to whom in replicator_dissemination.cpp.
#include <algorithm>

#include "core/assert.hpp"
#include "core/replicator.hpp"

namespace drl::core {

Peer* Replicator::add_peer(const std::string& address, bool configured, MonoTime now) {
  Peer* added = peers_.add(address, configured, now);
  if (added == nullptr) ++stats_.peers_rejected;
  return added;
}

Peer* Replicator::peer_for_source(MonoTime now, const std::string& from,
                                  const ClusterMessage& message) {
  // A sender without an address is known by the datagram's source, which nothing authenticates.
  // Replayed from forged sources, a captured datagram would add a member per source (heard,
  // never reachable: under the proportional policy every limit would shrink towards 1), or,
  // from another such node's address, make that node look restarted. So a node has one such
  // address at a time: while an entry at another address stands for it and hears us, the
  // datagram is dropped. Once none does (the sender moved: another source port after address
  // translation, another route; or it is silent), its learned entry moves to the new source; a
  // configured entry stays where the config put it, with one learned entry beside it.
  Peer* at_source = peers_.find(from);
  if (at_source != nullptr && at_source->heard && at_source->node_id == message.sender_id) {
    return at_source;
  }
  Peer* learned = nullptr;
  for (Peer& peer : peers_.all()) {
    if (&peer == at_source || !peer.heard || peer.node_id != message.sender_id) continue;
    if (hears_us(peer, now)) {
      ++stats_.messages_from_second_address;
      return nullptr;
    }
    if (!peer.configured && learned == nullptr) learned = &peer;
  }
  if (at_source != nullptr) return at_source;  // never heard, or another node's before
  if (learned == nullptr) {
    Peer* added = add_peer(from, false, now);
    if (added != nullptr) ++stats_.peers_joined;
    return added;
  }
  peers_.move_to(*learned, from);
  ++stats_.peers_moved;
  // What we sent to the old address is lost, and we may have dropped its datagrams while the
  // old entry still heard us.
  resync(*learned);
  return learned;
}

void Replicator::resync(Peer& peer) {
  peer.full_sync_pending = true;
  peer.overrides_pending = true;
  peer.sweep = SweepCursor{};
  peer.synced_from = false;
}

bool Replicator::hears_us(const Peer& peer, MonoTime now) const {
  return peer.acked && (now.ns - peer.last_acked.ns) / ns_per_ms < config_.suspect_after_ms;
}

namespace {

std::int64_t ms_between(MonoTime earlier, MonoTime later) {
  return (later.ns - earlier.ns) / ns_per_ms;
}

}  // namespace

std::string Replicator::relay_for(Peer& peer, MonoTime now) {
  // Only a node with an address relays: the receiver knows a relayed datagram's sender by the
  // address inside it, not by its source (the relay's).
  const std::int64_t patience_ms = config_.unreachable_after_ms;
  const bool cut = !config_.address.empty() && peer.heard && peer.state == PeerState::alive &&
                   ms_between(peer.state_since, now) >= patience_ms &&
                   (!peer.acked_direct || ms_between(peer.last_acked_direct, now) >= patience_ms);
  if (!cut) {
    peer.drop_relay();
    return {};
  }
  const Peer* relay = peer.relay.empty() ? nullptr : peers_.find(peer.relay);
  if (relay == nullptr || !relay_candidate(*relay, peer, now)) next_relay(peer, now);
  return peer.relay;
}

bool Replicator::relay_candidate(const Peer& relay, const Peer& peer, MonoTime now) const {
  // It hears us straight, lately: our datagrams reach it. Whether it reaches `peer` shows in the
  // answer to the heartbeat we send through it.
  return &relay != &peer && relay.heard && relay.state == PeerState::alive &&
         relay.node_id != peer.node_id && relay.acked_direct &&
         ms_between(relay.last_acked_direct, now) < config_.unreachable_after_ms;
}

void Replicator::next_relay(Peer& peer, MonoTime now) {
  peer.drop_relay();
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const std::size_t index = (peer.relay_turn + i) % peers_.size();
    const Peer& candidate = peers_.at(index);
    if (relay_candidate(candidate, peer, now)) {
      peer.relay = candidate.address;
      peer.relay_turn = index + 1;
      return;
    }
  }
}

bool Replicator::add_seed(MonoTime now, const std::string& address) {
  if (address.empty() || address == config_.address || peers_.find(address) != nullptr) {
    return false;
  }
  if (add_peer(address, false, now) == nullptr) return false;
  ++stats_.seed_addresses_added;
  return true;
}

void Replicator::learn_members(MonoTime now, const ClusterMessage& message) {
  for (const MemberRecord& member : message.members) {
    if (member.address.empty() || member.address == config_.address ||
        member.node_id == config_.node_id) {
      continue;
    }
    if (peers_.find(member.address) == nullptr && add_peer(member.address, false, now) != nullptr) {
      ++stats_.peers_joined;
    }
  }
}

void Replicator::update_states(MonoTime now) {
  for (Peer& peer : peers_.all()) {
    // A peer that left stays `left` until a new incarnation of it is heard.
    if (!peer.heard || peer.state == PeerState::left) continue;
    const std::int64_t silent_ms = (now.ns - peer.last_heard.ns) / ns_per_ms;
    PeerState next = PeerState::alive;
    if (silent_ms >= config_.down_after_ms) {
      next = PeerState::down;
    } else if (silent_ms >= config_.suspect_after_ms) {
      next = PeerState::suspect;
    }
    if (next != peer.state) {
      peer.state = next;
      peer.state_since = now;
    }
  }
  // Peers that joined through others and have been down (or never answered) for long are
  // forgotten, so that a node removed from the fleet, or a member record that named no live
  // node, stops counting. Configured peers stay.
  peers_.erase_if([&](const Peer& peer) {
    return !peer.configured &&
           (peer.state == PeerState::down || peer.state == PeerState::unknown ||
            peer.state == PeerState::left) &&
           (now.ns - peer.state_since.ns) / ns_per_ms >= config_.forget_after_ms;
  });
}

void Replicator::heartbeat_round(MonoTime now, WallTime wall) {
  // A rotating sample of members (and ourselves) travels with every heartbeat.
  std::vector<MemberRecord> sample;
  sample.push_back(MemberRecord{config_.node_id, config_.incarnation, config_.address});
  for (std::size_t i = 0; i < peers_.size() && sample.size() < config_.members_per_heartbeat; ++i) {
    const Peer& peer = peers_.at((member_turn_ + i) % peers_.size());
    if (peer.heard && peer.state != PeerState::down && peer.state != PeerState::left) {
      sample.push_back(MemberRecord{peer.node_id, peer.incarnation, peer.address});
    }
  }
  if (!peers_.empty())
    member_turn_ = (member_turn_ + config_.members_per_heartbeat) % peers_.size();
  for (Peer& peer : peers_.all()) {
    // A peer that left is not probed: its next incarnation makes itself heard.
    if (peer.state == PeerState::left) continue;
    ClusterMessage message = header(MessageType::heartbeat, wall);
    peer.previous_token = peer.ping_token;
    peer.previous_sent = peer.ping_sent;
    peer.previous_sent_wall = peer.ping_sent_wall;
    peer.ping_token = rng_() | 1;
    peer.ping_sent = now;
    peer.ping_sent_wall = wall;
    message.token = peer.ping_token;
    message.members = sample;
    if (rights_ != nullptr) message.members_digest = rights_->split().members_digest;
    if (peer.heard && !peer.synced_from) message.flags |= kFlagWantSync;
    message.flags |= kFlagReadsTotals;
    // Under a one-way cut, a second heartbeat through a relay, with a token of its own: its
    // answer says the relay works (two rounds in a row without one: try another), while the
    // answer to the straight one says the cut is over.
    if (!relay_for(peer, now).empty()) {
      peer.relay_unanswered = peer.relay_token != 0 ? peer.relay_unanswered + 1 : 0;
      if (peer.relay_unanswered >= 2) next_relay(peer, now);
      if (!peer.relay.empty()) {
        ClusterMessage relayed = message;
        peer.relay_previous_token = peer.relay_token;
        peer.relay_token = rng_() | 1;
        relayed.token = peer.relay_token;
        outgoing_.push_back(Outgoing{peer.address, std::move(relayed), peer.relay});
        ++stats_.relayed_messages_sent;
        ++stats_.heartbeats_sent;
      }
    }
    send(peer.address, std::move(message));
    ++stats_.heartbeats_sent;
  }
}

void Replicator::note_sent(const std::string& address, std::size_t datagrams, std::size_t bytes) {
  if (Peer* peer = peers_.find(address)) {
    peer->datagrams_sent += datagrams;
    peer->bytes_sent += bytes;
  }
}

void Replicator::note_received(const std::string& address, std::size_t bytes) {
  if (Peer* peer = peers_.find(address)) {
    ++peer->datagrams_received;
    peer->bytes_received += bytes;
  }
}

std::vector<PeerStatus> Replicator::peers(MonoTime now) const {
  std::vector<PeerStatus> out;
  for (const Peer& peer : peers_.all()) {
    PeerStatus status;
    status.address = peer.address;
    status.node_id = peer.node_id;
    status.incarnation = peer.incarnation;
    status.state = peer.state;
    status.last_heard_ms_ago = peer.heard ? (now.ns - peer.last_heard.ns) / ns_per_ms : -1;
    status.rtt_us = peer.rtt_us;
    status.clock_offset_ms = peer.clock_offset_ms;
    status.configured = peer.configured;
    status.syncing = peer.full_sync_pending;
    status.synced = peer.synced_from;
    status.hears_us = hears_us(peer, now);
    status.via = peer.relay;
    status.datagrams_sent = peer.datagrams_sent;
    status.bytes_sent = peer.bytes_sent;
    status.datagrams_received = peer.datagrams_received;
    status.bytes_received = peer.bytes_received;
    status.other_members = rights_ != nullptr && peer.configured && peer.members_digest != 0 &&
                           peer.members_digest != rights_->split().members_digest;
    out.push_back(std::move(status));
  }
  return out;
}

std::uint32_t Replicator::reachable_permille(MonoTime now) const {
  // A peer not heard, or whose acknowledgements stopped, for unreachable_after counts as
  // unreachable, so under the proportional policy limits shrink then (not at suspect_after,
  // let alone down_after); they grow back once the peer has sent all its counts.
  std::size_t reachable = 1;
  const auto recent = [&](MonoTime at) {
    return (now.ns - at.ns) / ns_per_ms < config_.unreachable_after_ms;
  };
  for (const Peer& peer : peers_.all()) {
    if (peer.state == PeerState::alive && peer.synced_from && hears_us(peer, now) &&
        recent(peer.last_heard) && recent(peer.last_acked)) {
      ++reachable;
    }
  }
  // Members: ourselves, configured peers, and peers that were heard at least once. A member
  // record learned from a heartbeat does not make a member until that node answers; a member
  // that announced a clean stop is not one until it is back.
  std::size_t members = 1;
  for (const Peer& peer : peers_.all()) {
    members += (peer.configured || peer.heard) && peer.state != PeerState::left ? 1 : 0;
  }
  return static_cast<std::uint32_t>(reachable * 1000 / members);
}

bool Replicator::silent(const std::string& node_id) const {
  for (const Peer& peer : peers_.all()) {
    if (peer.heard && peer.node_id == node_id &&
        (peer.state == PeerState::alive || peer.state == PeerState::suspect)) {
      return false;
    }
  }
  return true;
}

std::int64_t Replicator::staleness_ms(MonoTime now) const {
  std::int64_t oldest = 0;
  for (const Peer& peer : peers_.all()) {
    if (peer.state != PeerState::alive && peer.state != PeerState::suspect) continue;
    oldest = std::max(oldest, (now.ns - peer.last_heard.ns) / ns_per_ms);
  }
  return oldest;
}

}  // namespace drl::core
