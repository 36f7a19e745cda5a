// Replicator's message intake and timers: which handler a datagram goes to, and which round
// is due. Peers and heartbeats are in replicator_membership.cpp; deltas, overrides and repair in
// replicator_dissemination.cpp.
#include "core/replicator.hpp"

#include <algorithm>
#include <array>

#include "core/assert.hpp"

namespace drl::core {
namespace {

std::uint64_t seed_of(const ReplicationConfig& config) {
  std::uint64_t seed = config.incarnation ^ 0x9e3779b97f4a7c15ULL;
  for (char c : config.node_id) seed = (seed ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return seed;
}

}  // namespace

Replicator::Replicator(ReplicationConfig config, CounterStore& store, OriginTable& origins)
    : config_(std::move(config)),
      store_(store),
      origins_(origins),
      peers_(config_.peers_max),
      rng_(seed_of(config_)),
      repair_turn_(seed_of(config_) % 65536) {
  for (const std::string& seed : config_.seeds) {
    if (seed != config_.address && peers_.find(seed) == nullptr) add_peer(seed, true, MonoTime{});
  }
}

ClusterMessage Replicator::header(MessageType type, WallTime wall) const {
  ClusterMessage message;
  message.type = type;
  message.sender_id = config_.node_id;
  message.sender_incarnation = config_.incarnation;
  message.sender_address = config_.address;
  message.sent_wall_ms = wall.unix_ms;
  return message;
}

void Replicator::send(const std::string& address, ClusterMessage message) {
  outgoing_.push_back(Outgoing{address, std::move(message), {}});
}

void Replicator::send_to(Peer& peer, MonoTime now, ClusterMessage message) {
  std::string via = relay_for(peer, now);
  DRL_ASSERT(via != peer.address, "a relay is another peer than the destination");
  if (!via.empty()) ++stats_.relayed_messages_sent;
  outgoing_.push_back(Outgoing{peer.address, std::move(message), std::move(via)});
}

void Replicator::forward_relay(MonoTime now, const Peer& sender, const ClusterMessage& message) {
  if (now.ns - relay_second_.ns >= 1000 * ns_per_ms) {
    relay_second_ = now;
    relayed_this_second_ = 0;
  }
  // To a live peer of ours other than the sender, within the budget: a relay is never a way to
  // reach an address the cluster does not know, nor to send more than comes in.
  const Peer* to = peers_.find(message.relay_to);
  const bool taken = message.relay_payload && !message.relay_payload->empty() && to != nullptr &&
                     to != &sender && to->heard && to->state == PeerState::alive &&
                     to->node_id != sender.node_id &&
                     relayed_this_second_ < bounds::relay_datagrams_per_second_max;
  if (!taken) {
    ++stats_.relay_datagrams_refused;
    return;
  }
  ++relayed_this_second_;
  ++stats_.relay_datagrams_forwarded;
  // A relay message without `via`: the wire layer sends its payload as it is.
  outgoing_.push_back(Outgoing{to->address, message, {}});
}

std::vector<Outgoing> Replicator::take_outgoing() {
  std::vector<Outgoing> out;
  out.swap(outgoing_);
  return out;
}

void Replicator::on_message(MonoTime now, WallTime wall, const std::string& from,
                            const ClusterMessage& message) {
  ++stats_.messages_received;
  if (message.sender_id == config_.node_id) {
    // A datagram of our own: looped back through an address of ours we cannot know as ours
    // (a wildcard bind listed under an address behind translation), or captured and replayed to
    // us, from any source, by someone who reads our traffic (we never receive our own stream,
    // so the replay window takes each once). The two look alike, so it changes nothing: its
    // source is no evidence that an address is ours. Any incarnation: a node id names one
    // node, and an earlier life of ours is not a peer.
    ++stats_.messages_from_self;
    return;
  }
  Peer* peer = nullptr;
  if (message.sender_address.empty()) {
    peer = peer_for_source(now, from, message);
  } else {
    peer = peers_.find(message.sender_address);
    if (peer == nullptr) {
      peer = add_peer(message.sender_address, false, now);
      if (peer != nullptr) ++stats_.peers_joined;
    }
  }
  if (peer == nullptr) return;
  if (message.type == MessageType::leave) {
    on_leave(now, *peer, message);
    return;
  }
  if (peer->state == PeerState::left && peer->node_id == message.sender_id &&
      peer->incarnation == message.sender_incarnation) {
    // Sent before its leave, delivered after it: its last counts still count, but a node that
    // stopped stays stopped.
    ++stats_.messages_after_leave;
    merge_content(now, wall, message);
    return;
  }
  if (peer->heard && peer->node_id == message.sender_id &&
      message.sender_incarnation < peer->incarnation && peer->state != PeerState::down &&
      peer->state != PeerState::left) {
    // A datagram from before the peer restarted, delivered late.
    ++stats_.messages_old_incarnation;
    return;
  }
  if (!peer->heard || peer->node_id != message.sender_id ||
      peer->incarnation != message.sender_incarnation) {
    if (peer->heard) ++stats_.peers_restarted;
    peer->node_id = message.sender_id;
    peer->incarnation = message.sender_incarnation;
    peer->rtt_us = -1;
    peer->offset_measured = false;
    peer->members_digest = 0;
    // New to us, or restarted: it needs every count we hold, its own old incarnation's included,
    // and every override (a restarted node starts with an empty table).
    resync(*peer);
    sync_soon(now);
  }
  if (peer->state != PeerState::alive) {
    // Back from silence (a partition, a crash, heavy loss): it may have missed deltas, and we
    // may have missed its counts until it sends them all. Overrides too.
    resync(*peer);
    sync_soon(now);
    peer->state_since = now;
  }
  peer->heard = true;
  peer->last_heard = now;
  peer->state = PeerState::alive;

  switch (message.type) {
    case MessageType::heartbeat: {
      ClusterMessage ack = header(MessageType::ack, wall);
      ack.token = message.token;
      send_to(*peer, now, std::move(ack));
      ++stats_.acks_sent;
      // It lacks our counts (our final sync slice may have been lost): sweep again.
      peer->reads_totals = (message.flags & kFlagReadsTotals) != 0;
      if ((message.flags & kFlagWantSync) != 0 && !peer->full_sync_pending) {
        peer->full_sync_pending = true;
        peer->overrides_pending = true;
        peer->sweep = SweepCursor{};
      }
      learn_members(now, message);
      note_members(wall, *peer, message.members_digest);
      break;
    }
    case MessageType::ack: {
      const bool latest = message.token != 0 && message.token == peer->ping_token;
      const bool earlier = message.token != 0 && message.token == peer->previous_token;
      const bool relayed = message.token != 0 && (message.token == peer->relay_token ||
                                                  message.token == peer->relay_previous_token);
      if (latest || earlier || relayed) {
        // The echo of a token we gave it proves that it hears us (a replayed ack carries an
        // old token, which no longer counts): straight, or through the relay it was sent by.
        peer->acked = true;
        peer->last_acked = now;
      }
      if (relayed) {
        peer->relay_token = peer->relay_previous_token = 0;
        peer->relay_unanswered = 0;
      }
      if (latest || earlier) {
        peer->acked_direct = true;
        peer->last_acked_direct = now;
        const MonoTime sent = latest ? peer->ping_sent : peer->previous_sent;
        const WallTime sent_wall = latest ? peer->ping_sent_wall : peer->previous_sent_wall;
        const std::int64_t rtt_us = (now.ns - sent.ns) / 1000;
        // The peer read its clock about half a round trip after we sent.
        const std::int64_t offset_ms = message.sent_wall_ms - (sent_wall.unix_ms + rtt_us / 2000);
        peer->rtt_us = peer->rtt_us < 0 ? rtt_us : (peer->rtt_us * 7 + rtt_us) / 8;
        peer->clock_offset_ms =
            peer->offset_measured ? (peer->clock_offset_ms * 7 + offset_ms) / 8 : offset_ms;
        peer->offset_measured = true;
        if (latest) peer->ping_token = 0;
        if (earlier) peer->previous_token = 0;
      } else if (message.token != 0 && !relayed) {
        // The echo of a heartbeat we sent to another address, one never heard from: that
        // address reaches this peer too (a host name, or not the address it advertises). Keep
        // one entry per node, or it would get every datagram twice and count twice in the
        // membership, once as unreachable (the proportional policy would scale limits down for
        // good).
        const auto all = peers_.all();
        const auto alias = std::find_if(all.begin(), all.end(), [&](const Peer& other) {
          return &other != peer && !other.heard &&
                 (other.ping_token == message.token || other.previous_token == message.token);
        });
        // The echo proves that our heartbeat to that address reached this peer, not that the
        // address leads to it: whoever reads our traffic can forward the heartbeat. A merge takes
        // the address out of the membership, so a configured one merges only into a peer that
        // is not configured: the mark moves, and there stay as many configured entries as the
        // config lists (each node listed once), so that no forwarding removes a configured peer
        // that is down (under the proportional policy the limits would go up). A learned
        // address never heard is no member: merging it costs nothing.
        if (alias != all.end() && (*alias).configured && peer->configured) {
          ++stats_.aliases_refused;
        } else if (alias != all.end()) {
          peer->configured = peer->configured || (*alias).configured;
          peers_.erase(*alias);  // another entry: `peer` stays valid
        }
      }
      break;
    }
    case MessageType::delta:
      merge_content(now, wall, message);
      if ((message.flags & kFlagWantsTotals) != 0) answer_totals(now, wall, *peer, message);
      break;
    case MessageType::repair:
      merge_content(now, wall, message);
      if ((message.flags & kFlagSyncComplete) != 0) {
        if ((message.flags & kFlagOwners) != 0) owners_sync_seen_ = true;
        peer->synced_from = true;
        synced_since_start_ = true;
      }
      break;
    case MessageType::overrides:
      ++stats_.override_messages_received;
      stats_.override_records_received += message.overrides.size();
      // Feature off: the records are dropped; the datagram still told us the peer is alive.
      merge_content(now, wall, message);
      break;
    case MessageType::relay:
      forward_relay(now, *peer, message);
      break;
    case MessageType::leave:
      break;  // handled above
    case MessageType::rights:
      on_rights(now, wall, *peer, message);
      break;
    case MessageType::totals:
      merge_content(now, wall, message);
      break;
  }
}

void Replicator::merge_content(MonoTime now, WallTime wall, const ClusterMessage& message) {
  switch (message.type) {
    case MessageType::delta:
    case MessageType::repair:
      merge_updates(now, wall, message);
      break;
    case MessageType::totals:
      merge_totals(wall, message);
      break;
    case MessageType::overrides:
      if (overrides_ != nullptr) {
        stats_.override_records_merged += overrides_->merge(message.overrides, wall);
      }
      break;
    case MessageType::heartbeat:
    case MessageType::ack:
    case MessageType::relay:
    case MessageType::leave:
    case MessageType::rights:
      break;  // no counts, no overrides
  }
}

void Replicator::on_leave(MonoTime now, Peer& peer, const ClusterMessage& message) {
  if (peer.heard && peer.node_id == message.sender_id &&
      message.sender_incarnation < peer.incarnation) {
    ++stats_.messages_old_incarnation;  // an earlier life's leave, delivered late
    return;
  }
  if (peer.state == PeerState::left && peer.incarnation == message.sender_incarnation) return;
  peer.node_id = message.sender_id;
  peer.incarnation = message.sender_incarnation;
  peer.heard = true;
  peer.last_heard = now;
  peer.state = PeerState::left;
  peer.state_since = now;
  peer.drop_relay();
  ++stats_.peers_left;
}

void Replicator::on_timer(MonoTime now, WallTime wall) {
  if (!started_) {
    started_ = true;
    started_at_ = now;
    next_gossip_ = now;
    next_heartbeat_ = now;
    next_repair_ = after_ms(now, config_.repair_interval_ms);
  }
  if (now >= next_gossip_) {
    refresh_owners(now);
    gossip_round(now, wall);
    override_round(now, wall);
    rights_round(now, wall);
    totals_request_round(now, wall);
    next_gossip_ = after_ms(next_gossip_, config_.gossip_interval_ms);
    // A timer late by a whole interval or more starts the cadence again from now: the next
    // round is always in the future (a deadline equal to now would run a second round at once).
    if (next_gossip_ <= now) next_gossip_ = after_ms(now, config_.gossip_interval_ms);
  }
  if (forward_due_ && now >= forward_at_) forward_round(now, wall);
  if (now >= next_heartbeat_) {
    update_states(now);
    heartbeat_round(now, wall);
    next_heartbeat_ = after_ms(now, config_.heartbeat_interval_ms);
  }
  if (now >= next_repair_) {
    if (rights_ != nullptr) rights_->expire(wall);
    repair_round(now, wall);
    next_repair_ = after_ms(now, config_.repair_interval_ms);
  }
}

void Replicator::sync_soon(MonoTime now) {
  if (started_) next_repair_ = std::min(next_repair_, now);
}

MonoTime Replicator::next_deadline() const {
  if (!started_) return MonoTime{};
  const MonoTime rounds = std::min({next_gossip_, next_heartbeat_, next_repair_});
  return forward_due_ ? std::min(rounds, forward_at_) : rounds;
}

}  // namespace drl::core
