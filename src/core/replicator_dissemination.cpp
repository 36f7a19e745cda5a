// The dissemination half of Replicator: deltas each gossip round, the override table, and
// anti-entropy repair out; merging received counts in (see replicator.hpp). Message intake and
// timers are in replicator.cpp, peers and their states in replicator_membership.cpp.
#include <algorithm>
#include <array>

#include "core/assert.hpp"
#include "core/replicator.hpp"

namespace drl::core {

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
    } else if (update.count != 0 && (owners_mode_ || (message.flags & kFlagOwners) != 0)) {
      // A count sent to us as an owner (a delta, or a repair: after a partition or a restart the
      // owners learn through repair what they missed), by a node in owners mode even if this one
      // is in the mesh: the nodes counting the key hear of it.
      note_forward(now, update.counter_id, update.window_ms);
    }
  }
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
  if (owners_resend_ && owners_mode_ && owners_.members().size() > 1) resend_own_counts(wall);
  if (scratch_.empty()) return;
  // Alone on its ring (a node that has heard no peer yet, as a cluster forms, or cut off from
  // all): the mesh's targets, the configured peers not heard yet among them, so that counts made
  // meanwhile are not left to anti-entropy.
  if (owners_mode_ && owners_.members().size() > 1) {
    send_to_owners(now, wall);
    return;
  }
  send_delta_to_all(now, wall, scratch_);
}

void Replicator::send_delta_to_all(MonoTime now, WallTime wall,
                                   const std::vector<SlotUpdate>& slots) {
  auto records = std::make_shared<std::vector<WireUpdate>>();
  records->reserve(slots.size());
  for (const SlotUpdate& slot : slots) records->push_back(own_count_record(slot));
  const std::shared_ptr<const std::vector<WireUpdate>> updates = std::move(records);
  for (Peer& peer : peers_.all()) {
    if (!delta_target(peer, now)) continue;
    ClusterMessage message = header(MessageType::delta, wall);
    message.origins.push_back(origins_.local());
    message.updates = updates;
    send_to(peer, now, std::move(message));
    ++stats_.delta_messages_sent;
    stats_.updates_sent += updates->size();
  }
}

bool Replicator::delta_target(const Peer& peer, MonoTime now) const {
  // Configured peers not heard from yet may be up: in the first down_after of our life they
  // get deltas too, so that counts made while the cluster forms are not left to anti-entropy.
  const bool forming = (now.ns - started_at_.ns) / ns_per_ms < config_.down_after_ms;
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
  if (sync) next_override_sync_ = after_ms(now, config_.override_sync_interval_ms);

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
    send_to(*peer, now, std::move(message));
    ++stats_.override_messages_sent;
    stats_.override_records_sent += records.size();
  }
}

void Replicator::final_round(MonoTime now, WallTime wall) {
  // The last changes, twice over (no later round will resend them).
  gossip_round(now, wall);
  gossip_round(now, wall);
  // Through owners, the keys this node owned get new owners once it is gone, and when their
  // other owner leaves too (a fleet shrinking) nobody left holds this node's counts of them:
  // its own counts of the windows in use go to every live peer, whoever owns them next.
  if (owners_mode_ && owners_.members().size() > 1) {
    std::vector<SlotUpdate> slice;
    SweepCursor cursor;
    collect_own(wall, cursor, slice, config_.repair_updates_per_interval);
    if (!slice.empty()) send_delta_to_all(now, wall, slice);
  }
  override_round(now, wall);
  // Then the leave, after the counts: a peer that takes the leave first still merges the counts
  // that come after it. To every peer that may be running (a peer down or never heard is told
  // too: it may only be cut off from us).
  for (int copy = 0; copy < 2; ++copy) {
    for (Peer& peer : peers_.all()) {
      if (peer.state == PeerState::left) continue;
      send_to(peer, now, header(MessageType::leave, wall));
    }
  }
}

void Replicator::repair_round(MonoTime now, WallTime wall) {
  if (peers_.empty()) return;
  refresh_owners(now);  // a peer back since the last gossip round owns keys again
  // The peers waiting for a full sync get their next slices this round, in turn, while the round's
  // budget of updates lasts and up to full_syncs_per_repair_round_max of them. A node holds its
  // checks until one peer's sync is complete (its start-up hold): when a whole cluster starts at
  // once, every node waits for one, and serving a single waiting peer per round left some waiting
  // until warmup_max, which then released their held checks together, past the overshoot bound.
  // From an empty store (a whole cluster starting at once) a sync is one empty last slice and
  // no walk: every waiting peer gets its own this round, outside that cap (through owners a
  // node waits for every peer's; at 100 nodes 16 a round made every node wait for warmup_max).
  // Otherwise the next live peer in turn gets a slice of the anti-entropy sweep.
  std::size_t budget = config_.repair_updates_per_interval;
  std::size_t syncs_served = 0;
  // Each shard's lock, taken only when a peer waits for a sync.
  bool sync_waiting = false;
  for (const Peer& peer : peers_.all()) {
    sync_waiting = sync_waiting || (peer.full_sync_pending && peer.state == PeerState::alive);
  }
  const bool nothing_to_sync = sync_waiting && store_.empty();
  bool served = false;
  for (std::size_t i = 0;
       i < peers_.size() && budget > 0 &&
       (nothing_to_sync || syncs_served < bounds::full_syncs_per_repair_round_max);
       ++i) {
    Peer& peer = peers_.at((repair_turn_ + i) % peers_.size());
    if (!peer.full_sync_pending || peer.state != PeerState::alive) continue;
    budget -= std::min(budget, repair_to(peer, now, wall, budget, nothing_to_sync));
    ++syncs_served;
    served = true;
  }
  for (std::size_t i = 0; i < peers_.size() && !served; ++i) {
    Peer& peer = peers_.at((repair_turn_ + i) % peers_.size());
    if (peer.state != PeerState::alive) continue;
    repair_to(peer, now, wall, budget);
    served = true;
  }
  repair_turn_ = (repair_turn_ + 1) % peers_.size();
}

std::size_t Replicator::repair_to(Peer& peer, MonoTime now, WallTime wall, std::size_t max_updates,
                                  bool store_empty) {
  scratch_.clear();
  std::size_t collected = 0;
  if (store_empty) {
    peer.sweep = SweepCursor{0, 0, true};  // at its end at once, as a walk would end
  } else {
    collected = store_.collect_all(wall, peer.sweep, scratch_, max_updates);
  }
  const bool in_full_sync = peer.full_sync_pending;
  bool completes_sync = false;
  if (peer.sweep.completed && peer.full_sync_pending) {
    peer.full_sync_pending = false;
    completes_sync = true;
    ++stats_.full_syncs_completed;
  }
  // The last slice of a full sync is sent even when empty: it tells the peer it has it all.
  if (scratch_.empty() && !completes_sync) return collected;
  if (owners_mode_) {
    // A node that starts (or comes back) holds its checks until its full syncs are in: of the
    // keys we own and it does not, it gets what the other origins counted, so that it does not
    // decide its first checks there on its own count alone.
    if (in_full_sync) send_totals_of(peer, now, wall);
    // Per-origin counts only where the peer owns the key: a node that does not own it keeps the
    // owners' total, not every origin's count (its memory per key stays the same at any size).
    std::erase_if(scratch_,
                  [&](const SlotUpdate& slot) { return !is_owner(peer.node_id, slot.counter_id); });
  }
  const Origin target_origin{peer.node_id, peer.incarnation};
  ClusterMessage message = header(MessageType::repair, wall);
  if (completes_sync) message.flags |= kFlagSyncComplete;
  if (owners_mode_) message.flags |= kFlagOwners;
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
  if (updates->empty() && !completes_sync) return collected;
  stats_.updates_sent += updates->size();
  message.updates = std::move(updates);
  send_to(peer, now, std::move(message));
  ++stats_.repair_messages_sent;
  return collected;
}

}  // namespace drl::core
