#include "core/replicator.hpp"

#include <algorithm>
#include <array>

#include "core/assert.hpp"

namespace drl::core {
namespace {

constexpr std::int64_t kNsPerMs = 1'000'000;

MonoTime after(MonoTime t, std::int64_t ms) {
  return MonoTime{t.ns + ms * kNsPerMs};
}

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
      rng_(seed_of(config_)) {
  for (const std::string& seed : config_.seeds) {
    if (seed != config_.address && peers_.find(seed) == nullptr) add_peer(seed, true, MonoTime{});
  }
}

Peer* Replicator::add_peer(const std::string& address, bool configured, MonoTime now) {
  Peer* added = peers_.add(address, configured, now);
  if (added == nullptr) ++stats_.peers_rejected;
  return added;
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
  outgoing_.push_back(Outgoing{address, std::move(message)});
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
  if (peer->heard && peer->node_id == message.sender_id &&
      message.sender_incarnation < peer->incarnation && peer->state != PeerState::down) {
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
    // New to us, or restarted: it needs every count we hold, its own old incarnation's included,
    // and every override (a restarted node starts with an empty table).
    resync(*peer);
  }
  if (peer->state != PeerState::alive) {
    // Back from silence (a partition, a crash, heavy loss): it may have missed deltas, and we
    // may have missed its counts until it sends them all. Overrides too.
    resync(*peer);
    peer->state_since = now;
  }
  peer->heard = true;
  peer->last_heard = now;
  peer->state = PeerState::alive;

  switch (message.type) {
    case MessageType::heartbeat: {
      ClusterMessage ack = header(MessageType::ack, wall);
      ack.token = message.token;
      send(peer->address, std::move(ack));
      ++stats_.acks_sent;
      // It lacks our counts (our final sync slice may have been lost): sweep again.
      if ((message.flags & kFlagWantSync) != 0 && !peer->full_sync_pending) {
        peer->full_sync_pending = true;
        peer->overrides_pending = true;
        peer->sweep = SweepCursor{};
      }
      learn_members(now, message);
      break;
    }
    case MessageType::ack: {
      const bool latest = message.token != 0 && message.token == peer->ping_token;
      const bool earlier = message.token != 0 && message.token == peer->previous_token;
      if (latest || earlier) {
        // The echo of a token we gave it proves that it hears us (a replayed ack carries an
        // old token, which no longer counts).
        peer->acked = true;
        peer->last_acked = now;
      }
      if (latest || earlier) {
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
      } else if (message.token != 0) {
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
      merge_updates(now, wall, message);
      break;
    case MessageType::repair:
      merge_updates(now, wall, message);
      if ((message.flags & kFlagSyncComplete) != 0) peer->synced_from = true;
      break;
    case MessageType::overrides:
      ++stats_.override_messages_received;
      stats_.override_records_received += message.overrides.size();
      // Feature off: the records are dropped; the datagram still told us the peer is alive.
      if (overrides_ != nullptr) {
        stats_.override_records_merged += overrides_->merge(message.overrides, wall);
      }
      break;
  }
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
  return peer.acked && (now.ns - peer.last_acked.ns) / kNsPerMs < config_.suspect_after_ms;
}

void Replicator::merge_updates(MonoTime now, WallTime wall, const ClusterMessage& message) {
  if (!message.updates) return;
  // Message-local origin references to store indices; our current self is never merged from
  // others (we are the authority on it).
  std::vector<std::int64_t> local(message.origins.size(), -1);
  for (std::size_t i = 0; i < message.origins.size(); ++i) {
    const Origin& origin = message.origins[i];
    if (origin == origins_.local()) continue;
    if (const auto index = origins_.index_of(origin, now, config_.origin_retire_after_ms)) {
      local[i] = *index;
    }
  }
  for (const WireUpdate& update : *message.updates) {
    ++stats_.updates_received;
    if (update.origin >= local.size()) {
      ++stats_.updates_dropped;
      continue;
    }
    if (local[update.origin] < 0) {
      if (message.origins[update.origin] != origins_.local()) ++stats_.updates_dropped;
      continue;
    }
    const std::array<std::uint64_t, 1> ids{update.counter_id};
    if (!store_.lock(ids).merge(update.counter_id, update.window_ms, wall,
                                static_cast<std::uint32_t>(local[update.origin]), update.window_id,
                                update.count)) {
      ++stats_.updates_dropped;
    }
  }
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

void Replicator::on_timer(MonoTime now, WallTime wall) {
  if (!started_) {
    started_ = true;
    started_at_ = now;
    next_gossip_ = now;
    next_heartbeat_ = now;
    next_repair_ = after(now, config_.repair_interval_ms);
  }
  if (now >= next_gossip_) {
    gossip_round(now, wall);
    override_round(now, wall);
    next_gossip_ = after(next_gossip_, config_.gossip_interval_ms);
    // A timer late by a whole interval or more starts the cadence again from now: the next
    // round is always in the future (a deadline equal to now would run a second round at once).
    if (next_gossip_ <= now) next_gossip_ = after(now, config_.gossip_interval_ms);
  }
  if (now >= next_heartbeat_) {
    update_states(now);
    heartbeat_round(now, wall);
    next_heartbeat_ = after(now, config_.heartbeat_interval_ms);
  }
  if (now >= next_repair_) {
    repair_round(wall);
    next_repair_ = after(now, config_.repair_interval_ms);
  }
}

MonoTime Replicator::next_deadline() const {
  if (!started_) return MonoTime{};
  return std::min({next_gossip_, next_heartbeat_, next_repair_});
}

void Replicator::gossip_round(MonoTime now, WallTime wall) {
  scratch_.clear();
  store_.collect_changes(wall, OriginTable::local_index, scratch_,
                         config_.delta_updates_per_round_max);
  // The previous round's updates that did not change again go once more (their values are
  // still the latest: a newer one would be in this round).
  const std::size_t changed = scratch_.size();
  if (!last_round_.empty()) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> fresh;
    fresh.reserve(changed);
    for (std::size_t i = 0; i < changed; ++i) {
      fresh.emplace_back(scratch_[i].counter_id, scratch_[i].window_id);
    }
    std::sort(fresh.begin(), fresh.end());
    for (const SlotUpdate& old : last_round_) {
      if (!std::binary_search(fresh.begin(), fresh.end(),
                              std::make_pair(old.counter_id, old.window_id))) {
        scratch_.push_back(old);
      }
    }
  }
  last_round_.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(changed));
  if (scratch_.empty()) return;
  auto updates = std::make_shared<std::vector<WireUpdate>>();
  updates->reserve(scratch_.size());
  for (const SlotUpdate& slot : scratch_) {
    updates->push_back(WireUpdate{slot.counter_id, slot.window_ms, slot.window_id, 0, slot.count});
  }
  for (const Peer& peer : peers_.all()) {
    if (!delta_target(peer, now)) continue;
    ClusterMessage message = header(MessageType::delta, wall);
    message.origins.push_back(origins_.local());
    message.updates = updates;
    send(peer.address, std::move(message));
    ++stats_.delta_messages_sent;
    stats_.updates_sent += updates->size();
  }
}

bool Replicator::delta_target(const Peer& peer, MonoTime now) const {
  // Configured peers not heard from yet may be up: in the first down_after of our life they
  // get deltas too, so that counts made while the cluster forms are not left to anti-entropy.
  const bool forming = (now.ns - started_at_.ns) / kNsPerMs < config_.down_after_ms;
  const bool live = peer.state == PeerState::alive || peer.state == PeerState::suspect;
  return live || (forming && peer.state == PeerState::unknown);
}

void Replicator::set_overrides(OverrideTable* table) {
  overrides_ = table;
  overrides_version_sent_.reset();
  // Peers already alive get the new table in the next round, like new peers.
  for (Peer& peer : peers_.all()) peer.overrides_pending = table != nullptr;
}

void Replicator::override_round(MonoTime now, WallTime wall) {
  if (overrides_ == nullptr) return;
  const std::uint64_t version = overrides_->version();
  const bool changed = overrides_version_sent_ != version;
  overrides_version_sent_ = version;
  // A change goes out twice, in this round and the next (as count updates do), so that a peer
  // misses it only if both copies are lost; else it waits for the anti-entropy sync.
  const bool resend = overrides_resend_;
  overrides_resend_ = changed;
  const bool sync = now >= next_override_sync_;
  if (sync) next_override_sync_ = after(now, config_.override_sync_interval_ms);

  std::vector<Peer*> targets;
  for (Peer& peer : peers_.all()) {
    const bool alive = peer.state == PeerState::alive;
    if (((changed || resend) && delta_target(peer, now)) ||
        (alive && (sync || peer.overrides_pending))) {
      targets.push_back(&peer);
    }
  }
  if (targets.empty()) return;
  // Read after the version: a change in between is sent now and again next round (the version
  // moved), never lost.
  std::vector<OverrideRecord> records = overrides_->records();
  for (Peer* peer : targets) {
    peer->overrides_pending = false;
    // An empty table has nothing to tell: a new peer's own records reach us from it.
    if (records.empty()) continue;
    ClusterMessage message = header(MessageType::overrides, wall);
    message.overrides = records;
    send(peer->address, std::move(message));
    ++stats_.override_messages_sent;
    stats_.override_records_sent += records.size();
  }
}

void Replicator::final_round(MonoTime now, WallTime wall) {
  // The last changes, twice over (no later round will resend them).
  gossip_round(now, wall);
  gossip_round(now, wall);
  override_round(now, wall);
}

void Replicator::update_states(MonoTime now) {
  for (Peer& peer : peers_.all()) {
    if (!peer.heard) continue;
    const std::int64_t silent_ms = (now.ns - peer.last_heard.ns) / kNsPerMs;
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
           (peer.state == PeerState::down || peer.state == PeerState::unknown) &&
           (now.ns - peer.state_since.ns) / kNsPerMs >= config_.forget_after_ms;
  });
}

void Replicator::heartbeat_round(MonoTime now, WallTime wall) {
  // A rotating sample of members (and ourselves) travels with every heartbeat.
  std::vector<MemberRecord> sample;
  sample.push_back(MemberRecord{config_.node_id, config_.incarnation, config_.address});
  for (std::size_t i = 0; i < peers_.size() && sample.size() < config_.members_per_heartbeat; ++i) {
    const Peer& peer = peers_.at((member_turn_ + i) % peers_.size());
    if (peer.heard && peer.state != PeerState::down) {
      sample.push_back(MemberRecord{peer.node_id, peer.incarnation, peer.address});
    }
  }
  if (!peers_.empty())
    member_turn_ = (member_turn_ + config_.members_per_heartbeat) % peers_.size();
  for (Peer& peer : peers_.all()) {
    ClusterMessage message = header(MessageType::heartbeat, wall);
    peer.previous_token = peer.ping_token;
    peer.previous_sent = peer.ping_sent;
    peer.previous_sent_wall = peer.ping_sent_wall;
    peer.ping_token = rng_() | 1;
    peer.ping_sent = now;
    peer.ping_sent_wall = wall;
    message.token = peer.ping_token;
    message.members = sample;
    if (peer.heard && !peer.synced_from) message.flags |= kFlagWantSync;
    send(peer.address, std::move(message));
    ++stats_.heartbeats_sent;
  }
}

void Replicator::repair_round(WallTime wall) {
  if (peers_.empty()) return;
  // A peer waiting for a full sync goes first; otherwise the next live peer in turn.
  Peer* target = nullptr;
  for (std::size_t i = 0; i < peers_.size() && target == nullptr; ++i) {
    Peer& peer = peers_.at((repair_turn_ + i) % peers_.size());
    if (peer.full_sync_pending && peer.state == PeerState::alive) target = &peer;
  }
  for (std::size_t i = 0; i < peers_.size() && target == nullptr; ++i) {
    Peer& peer = peers_.at((repair_turn_ + i) % peers_.size());
    if (peer.state == PeerState::alive) target = &peer;
  }
  repair_turn_ = (repair_turn_ + 1) % peers_.size();
  if (target == nullptr) return;

  scratch_.clear();
  store_.collect_all(wall, target->sweep, scratch_, config_.repair_updates_per_interval);
  bool completes_sync = false;
  if (target->sweep.completed && target->full_sync_pending) {
    target->full_sync_pending = false;
    completes_sync = true;
    ++stats_.full_syncs_completed;
  }
  // The last slice of a full sync is sent even when empty: it tells the peer it has it all.
  if (scratch_.empty() && !completes_sync) return;
  const Origin target_origin{target->node_id, target->incarnation};
  ClusterMessage message = header(MessageType::repair, wall);
  if (completes_sync) message.flags |= kFlagSyncComplete;
  auto updates = std::make_shared<std::vector<WireUpdate>>();
  std::map<std::uint32_t, std::uint32_t> refs;  // store origin index -> message reference
  for (const SlotUpdate& slot : scratch_) {
    auto ref = refs.find(slot.origin);
    if (ref == refs.end()) {
      const std::optional<Origin> origin = origins_.origin_at(slot.origin);
      // The peer is the authority on its own current counts.
      if (!origin || *origin == target_origin) {
        refs.emplace(slot.origin, UINT32_MAX);
        continue;
      }
      ref = refs.emplace(slot.origin, static_cast<std::uint32_t>(message.origins.size())).first;
      message.origins.push_back(*origin);
    }
    if (ref->second == UINT32_MAX) continue;
    updates->push_back(
        WireUpdate{slot.counter_id, slot.window_ms, slot.window_id, ref->second, slot.count});
  }
  if (updates->empty() && !completes_sync) return;
  stats_.updates_sent += updates->size();
  message.updates = std::move(updates);
  send(target->address, std::move(message));
  ++stats_.repair_messages_sent;
}

std::vector<PeerStatus> Replicator::peers(MonoTime now) const {
  std::vector<PeerStatus> out;
  for (const Peer& peer : peers_.all()) {
    PeerStatus status;
    status.address = peer.address;
    status.node_id = peer.node_id;
    status.incarnation = peer.incarnation;
    status.state = peer.state;
    status.last_heard_ms_ago = peer.heard ? (now.ns - peer.last_heard.ns) / kNsPerMs : -1;
    status.rtt_us = peer.rtt_us;
    status.clock_offset_ms = peer.clock_offset_ms;
    status.configured = peer.configured;
    status.syncing = peer.full_sync_pending;
    status.synced = peer.synced_from;
    status.hears_us = hears_us(peer, now);
    out.push_back(std::move(status));
  }
  return out;
}

std::uint32_t Replicator::reachable_permille(MonoTime now) const {
  // A suspect peer counts as unreachable, so under the proportional policy limits shrink after
  // suspect_after (not down_after); they grow back once the peer has sent all its counts.
  std::size_t reachable = 1;
  for (const Peer& peer : peers_.all()) {
    if (peer.state == PeerState::alive && peer.synced_from && hears_us(peer, now)) ++reachable;
  }
  // Members: ourselves, configured peers, and peers that were heard at least once. A member
  // record learned from a heartbeat does not make a member until that node answers.
  std::size_t members = 1;
  for (const Peer& peer : peers_.all()) members += (peer.configured || peer.heard) ? 1 : 0;
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
    oldest = std::max(oldest, (now.ns - peer.last_heard.ns) / kNsPerMs);
  }
  return oldest;
}

}  // namespace drl::core
