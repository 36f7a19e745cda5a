// The owner half of Replicator's dissemination (see replicator.hpp and docs/replication.md, "Key
// owners"): in a large cluster a node sends its changed counts to each key's owners only, and
// each of the key's owners tells every node that counts the key what all the other origins
// counted there. Values stay absolute and per origin on the owners; a node that is not an owner
// keeps its own slot and the owners' total of the others (owners_total_origin), and the store
// counts the larger of the two sums, so an origin heard both ways is never counted twice.
#include <algorithm>
#include <array>
#include <limits>
#include <map>

#include "core/assert.hpp"
#include "core/counter_window.hpp"
#include "core/replicator.hpp"

namespace drl::core {

static_assert(local_origin_index == OriginTable::local_index,
              "the store's own slot is the origin table's local index");

namespace {

std::uint32_t clamp_count(std::uint64_t count) {
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(count, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

bool Replicator::owner_member(const Peer& peer, MonoTime now) const {
  // Heard, with its id, within unreachable_after: a partition moves the keys owned across it to
  // owners on this side about then, not at down_after, so that the nodes of one side go on
  // adding up each other's counts. (A peer that does not hear us is reached through a relay,
  // send_to: it may own keys.)
  return peer.heard && !peer.node_id.empty() && peer.state == PeerState::alive &&
         (now.ns - peer.last_heard.ns) / ns_per_ms < config_.unreachable_after_ms;
}

void Replicator::refresh_owners(MonoTime now) {
  std::vector<std::string> members{config_.node_id};
  bool all_read_totals = true;
  for (const Peer& peer : peers_.all()) {
    if (!owner_member(peer, now)) continue;
    members.push_back(peer.node_id);
    all_read_totals = all_read_totals && peer.reads_totals;
  }
  const bool was_owners_mode = owners_mode_;
  switch (config_.dissemination) {
    case Dissemination::mesh:
      owners_mode_ = false;
      break;
    case Dissemination::owners:
      owners_mode_ = true;
      break;
    case Dissemination::automatic:
      // Not while a member of an earlier version, which reads no totals, is live (an upgrade).
      // Back to the mesh only a few members below: a member silent for a moment does not flip
      // the mode to and fro (nodes in either mode work together, owners_path below).
      owners_mode_ =
          all_read_totals && (members.size() >= bounds::owners_from_members ||
                              (owners_mode_ && members.size() >= bounds::owners_until_members));
      break;
  }
  stats_.owners_mode = owners_mode_ ? 1 : 0;
  if (!owners_mode_) {
    // A resend under way is over: back in owners mode, a pass of every key starts afresh.
    owners_resend_ = owners_resend_again_ = false;
    owners_resend_cursor_ = SweepCursor{};
  }
  // The ring is kept in "auto" in the mesh too: a node in owners mode (another view of the
  // members) may send this node a count as an owner, which it then forwards.
  if (config_.dissemination == Dissemination::mesh) return;
  std::sort(members.begin(), members.end());
  // As the ring keeps them: a node at two addresses for a while is one member.
  members.erase(std::unique(members.begin(), members.end()), members.end());
  if (owners_mode_ && !owners_resend_ && members != owners_.members()) {
    resend_since_ = owners_;  // the owners before this change: the resend skips keys they keep
  }
  const bool changed = owners_.assign(std::move(members));
  const std::vector<std::string>& ring = owners_.members();
  // The addresses every round: a member's address may move without the members changing.
  member_addresses_.assign(ring.size(), std::string());
  for (const Peer& peer : peers_.all()) {
    if (!owner_member(peer, now)) continue;
    const auto at = std::lower_bound(ring.begin(), ring.end(), peer.node_id);
    if (at != ring.end() && *at == peer.node_id) {
      member_addresses_[static_cast<std::size_t>(at - ring.begin())] = peer.address;
    }
  }
  if (owners_mode_ && (changed || !was_owners_mode)) {
    // New owners for some keys (a member joined, left, or went silent), or none until now: they
    // hold only what was sent since. Every node sends its own counts to the owners again.
    if (owners_resend_) {
      owners_resend_again_ = true;
    } else {
      owners_resend_ = true;
      owners_resend_all_ = !was_owners_mode || resend_since_.members().empty();
      owners_resend_cursor_ = SweepCursor{};
    }
  }
  if (changed) {
    const auto self = std::lower_bound(ring.begin(), ring.end(), config_.node_id);
    DRL_ASSERT(self != ring.end() && *self == config_.node_id, "this node is on its own ring");
    self_member_ = static_cast<std::uint32_t>(self - ring.begin());
  }
  member_addresses_[self_member_].clear();
  // Walks the ring's points: only when the members or the mode change.
  if (changed || owners_mode_ != was_owners_mode) {
    stats_.owner_share_permille = owners_mode_ ? owners_.first_owner_permille(self_member_) : 0;
  }
  // A key's first check waits for its owners' totals only when there are owners to ask.
  if (totals_requests_ != nullptr) {
    totals_requests_->set_wait_ms(owners_mode_ && ring.size() > 1
                                      ? static_cast<std::uint64_t>(config_.totals_wait_max_ms)
                                      : 0);
  }
}

void Replicator::send_to_owners(MonoTime now, WallTime wall) {
  // Member index -> the updates its keys' owners get from us.
  std::map<std::uint32_t, std::vector<WireUpdate>> by_member;
  std::array<std::uint32_t, bounds::owners_per_key> owners{};
  for (const SlotUpdate& slot : scratch_) {
    const std::size_t count = owners_.owners_of(slot.counter_id, owners);
    for (std::size_t i = 0; i < count; ++i) {
      if (owners[i] == self_member_) {
        // Our own count of a key we own: the others hear it at our next forward.
        note_forward(now, slot.counter_id, slot.window_ms);
        continue;
      }
      by_member[owners[i]].push_back(own_count_record(slot));
    }
  }
  for (auto& [member, updates] : by_member) {
    Peer* peer = peers_.find(member_addresses_[member]);
    if (peer == nullptr) continue;  // gone since the ring was built: the next round's owners
    ClusterMessage message = header(MessageType::delta, wall);
    message.flags |= kFlagOwners;  // to the owners only: an owner in the mesh forwards it too
    message.origins.push_back(origins_.local());
    stats_.updates_sent += updates.size();
    message.updates = std::make_shared<const std::vector<WireUpdate>>(std::move(updates));
    send_to(*peer, now, std::move(message));
    ++stats_.delta_messages_sent;
  }
}

bool Replicator::collect_own(WallTime wall, SweepCursor& cursor, std::vector<SlotUpdate>& out,
                             std::size_t max_updates) {
  const std::size_t walk_max = 8 * max_updates;
  std::size_t walked = 0;
  std::size_t own = 0;
  std::vector<SlotUpdate> slice;
  while (own < max_updates && walked < walk_max) {
    slice.clear();
    walked += store_.collect_all(wall, cursor, slice, max_updates - own);
    for (const SlotUpdate& slot : slice) {
      if (slot.origin != OriginTable::local_index) continue;
      out.push_back(slot);
      ++own;
    }
    if (cursor.completed) return true;
    if (slice.empty()) break;
  }
  return false;
}

bool Replicator::same_owners(std::uint64_t counter_id) const {
  std::array<std::uint32_t, bounds::owners_per_key> now{};
  std::array<std::uint32_t, bounds::owners_per_key> then{};
  const std::size_t now_count = owners_.owners_of(counter_id, now);
  const std::size_t then_count = resend_since_.owners_of(counter_id, then);
  if (now_count != then_count) return false;
  for (std::size_t i = 0; i < now_count; ++i) {
    const std::string& owner = owners_.members()[now[i]];
    bool kept = false;
    for (std::size_t j = 0; j < then_count; ++j) {
      kept = kept || resend_since_.members()[then[j]] == owner;
    }
    if (!kept) return false;
  }
  return true;
}

void Replicator::resend_own_counts(WallTime wall) {
  const std::size_t before = scratch_.size();
  const bool completed =
      collect_own(wall, owners_resend_cursor_, scratch_, config_.repair_updates_per_interval);
  if (!owners_resend_all_) {
    scratch_.erase(
        std::remove_if(scratch_.begin() + static_cast<std::ptrdiff_t>(before), scratch_.end(),
                       [&](const SlotUpdate& slot) { return same_owners(slot.counter_id); }),
        scratch_.end());
  }
  // Sent twice, as deltas are: once now, once more next round (gossip_round's resend).
  last_round_.insert(last_round_.end(), scratch_.begin() + static_cast<std::ptrdiff_t>(before),
                     scratch_.end());
  if (!completed) return;
  owners_resend_ = owners_resend_again_;
  // The members changed during the pass: keys passed before that change may have moved since,
  // and the ring before it is gone: the next pass resends every key.
  owners_resend_all_ = true;
  owners_resend_again_ = false;
  owners_resend_cursor_ = SweepCursor{};
}

std::int64_t Replicator::owner_forward_delay_ms() const {
  // A quarter of a gossip round: a key counted by many nodes, whose counts come in all through
  // the round, is forwarded at most four times a round, and each node still hears the others'
  // counts within about two hops of their being made.
  return std::max<std::int64_t>(1, config_.gossip_interval_ms / 4);
}

void Replicator::note_forward(MonoTime now, std::uint64_t counter_id, std::uint64_t window_ms) {
  if (forward_index_.contains(counter_id)) return;
  if (forward_keys_.size() >= bounds::owner_forward_keys_max) {
    ++stats_.owner_forwards_dropped;
    return;
  }
  forward_index_.emplace(counter_id, forward_keys_.size());
  forward_keys_.push_back(ForwardKey{counter_id, window_ms});
  if (!forward_due_) {
    forward_due_ = true;
    forward_at_ = after_ms(now, owner_forward_delay_ms());
  }
}

void Replicator::forward_round(MonoTime now, WallTime wall) {
  forward_due_ = false;
  // Each key's totals go out once per forward, from each of its owners: two copies, as deltas
  // go twice, so that a key at its limit, which gets no further count to send them again, is
  // stale at a node only if both are lost.
  std::vector<ForwardKey> keys;
  keys.swap(forward_keys_);
  forward_index_.clear();
  if (keys.empty() || owners_.members().empty()) return;

  // The live peers by node id: the nodes whose origins counted a key, as they are now.
  std::unordered_map<std::string_view, Peer*> by_node;
  for (Peer& peer : peers_.all()) {
    if (owner_member(peer, now)) by_node[peer.node_id] = &peer;
  }
  // Per recipient, in the order first met (a simulation's seed then replays the same sends).
  std::vector<std::pair<Peer*, std::vector<WireUpdate>>> totals;
  std::unordered_map<Peer*, std::size_t> totals_of;
  std::array<std::uint32_t, bounds::owners_per_key> owners{};
  std::vector<Peer*> recipients;
  for (const ForwardKey& key : keys) {
    // Every owner forwards: each holds every origin's count, so when one of them crashes or is
    // cut off the others still hear the totals from the other one at once (not after the ring
    // drops it). The receiver keeps the larger: two copies cost traffic, never a double count.
    const std::size_t count = owners_.owners_of(key.counter_id, owners);
    if (std::find(owners.begin(), owners.begin() + static_cast<std::ptrdiff_t>(count),
                  self_member_) == owners.begin() + static_cast<std::ptrdiff_t>(count)) {
      continue;
    }
    std::vector<OriginCounts> slots;
    {
      const std::array<std::uint64_t, 1> ids{key.counter_id};
      slots = store_.lock(ids).origins(key.counter_id, key.window_ms, wall);
    }
    if (slots.empty()) continue;
    const std::uint64_t now_window = window_id_at(wall, key.window_ms);
    if (slots.front().window_id + 1 < now_window) continue;  // over: nothing to tell
    recipients.clear();
    for (const OriginCounts& slot : slots) {
      if (slot.origin == owners_total_origin || slot.origin == OriginTable::local_index ||
          (slot.previous == 0 && slot.current == 0)) {
        continue;
      }
      const std::optional<Origin> origin = origins_.origin_at(slot.origin);
      if (!origin) continue;
      const auto peer = by_node.find(origin->node_id);
      if (peer == by_node.end()) continue;  // not live: nothing to tell it
      if (std::find(recipients.begin(), recipients.end(), peer->second) == recipients.end()) {
        recipients.push_back(peer->second);
      }
    }
    for (Peer* peer : recipients) {
      const auto [slot, fresh] = totals_of.emplace(peer, totals.size());
      if (fresh) totals.emplace_back(peer, std::vector<WireUpdate>());
      // Its counts as the origin it is now (an earlier incarnation's are another origin's).
      append_totals(key.counter_id, key.window_ms, slots,
                    origins_.find(Origin{peer->node_id, peer->incarnation}), now_window, false,
                    totals[slot->second].second);
    }
  }
  for (auto& [peer, updates] : totals) {
    if (updates.empty()) continue;
    ClusterMessage message = header(MessageType::totals, wall);
    message.origins.push_back(Origin{peer->node_id, peer->incarnation});
    stats_.totals_records_sent += updates.size();
    message.updates = std::make_shared<const std::vector<WireUpdate>>(std::move(updates));
    send_to(*peer, now, std::move(message));
    ++stats_.totals_messages_sent;
  }
}

void Replicator::append_totals(std::uint64_t counter_id, std::uint64_t window_ms,
                               const std::vector<OriginCounts>& slots,
                               std::optional<std::uint32_t> recipient, std::uint64_t now_window,
                               bool zero_too, std::vector<WireUpdate>& out) const {
  // No slot: nobody counted the key (that we know of) in its windows in use.
  const std::uint64_t newest = slots.empty() ? now_window : slots.front().window_id;
  if (newest + 1 < now_window) {
    if (zero_too) out.push_back(WireUpdate{counter_id, window_ms, now_window, 0, 0});
    return;
  }
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
  for (const OriginCounts& slot : slots) {
    // The owners' total is no origin's (our own view of the others); the recipient's own count
    // is its own to add.
    if (slot.origin == owners_total_origin || (recipient && slot.origin == *recipient)) continue;
    previous += slot.previous;
    current += slot.current;
  }
  // An answer speaks of the window that holds now, even when the owner's key has not moved into
  // it yet (nobody counted there since): then nothing was counted there, and the key's newest
  // window is the one before.
  if (zero_too && newest < now_window) {
    out.push_back(WireUpdate{counter_id, window_ms, now_window, 0, 0});
  }
  if (current > 0 || (zero_too && newest >= now_window)) {
    out.push_back(WireUpdate{counter_id, window_ms, newest, 0, clamp_count(current)});
  }
  // The previous window only while it is the one before now (a receiver drops an older one).
  if (previous > 0 && newest >= now_window) {
    out.push_back(WireUpdate{counter_id, window_ms, newest - 1, 0, clamp_count(previous)});
  }
}

void Replicator::totals_request_round(MonoTime now, WallTime wall) {
  if (totals_requests_ == nullptr) return;
  const std::vector<TotalsWant> wants = totals_requests_->take(bounds::totals_wants_max, wall);
  if (wants.empty() || owners_.members().size() < 2) return;
  // Member index -> the keys asked of it, in the order first met (a seed replays the same sends).
  std::vector<std::pair<std::uint32_t, std::vector<WireUpdate>>> by_member;
  std::array<std::uint32_t, bounds::owners_per_key> owners{};
  for (const TotalsWant& want : wants) {
    const std::uint64_t window_id = window_id_at(wall, want.window_ms);
    const std::size_t count = owners_.owners_of(want.counter_id, owners);
    for (std::size_t i = 0; i < count; ++i) {
      if (owners[i] == self_member_) continue;  // the other owner may hold what we missed
      auto at = std::find_if(by_member.begin(), by_member.end(),
                             [&](const auto& entry) { return entry.first == owners[i]; });
      if (at == by_member.end()) {
        by_member.emplace_back(owners[i], std::vector<WireUpdate>());
        at = by_member.end() - 1;
      }
      at->second.push_back(WireUpdate{want.counter_id, want.window_ms, window_id, 0, 0});
    }
  }
  for (auto& [member, updates] : by_member) {
    Peer* peer = peers_.find(member_addresses_[member]);
    if (peer == nullptr) continue;  // gone since the ring was built: the check's wait runs out
    ClusterMessage message = header(MessageType::delta, wall);
    message.flags |= kFlagOwners | kFlagWantsTotals;
    message.origins.push_back(origins_.local());
    stats_.totals_requests_sent += updates.size();
    message.updates = std::make_shared<const std::vector<WireUpdate>>(std::move(updates));
    send_to(*peer, now, std::move(message));
  }
}

void Replicator::answer_totals(MonoTime now, WallTime wall, Peer& peer,
                               const ClusterMessage& message) {
  if (!message.updates || message.origins.size() != 1 || peer.node_id.empty()) return;
  // An owner that started lately answers what it holds, though it lacks the others' counts until
  // their full syncs are in: waiting for them (every live peer's) kept a cold-started cluster of
  // 100 from answering at all, and a low answer costs no more than no answer (a blind first
  // admission on the asker, the model's term for a key's first check).
  // The asker's counts as the origin it is now; it asks only of keys it has not counted there,
  // but an earlier datagram of its may have reached us since.
  const Origin asker = message.origins.front();
  if (asker.node_id != peer.node_id) return;
  const std::optional<std::uint32_t> theirs = origins_.find(asker);
  std::vector<WireUpdate> totals;
  for (const WireUpdate& update : *message.updates) {
    if (update.count != 0 || !bounds::window_ms_valid(update.window_ms) ||
        !is_owner(config_.node_id, update.counter_id)) {
      continue;
    }
    const std::array<std::uint64_t, 1> ids{update.counter_id};
    const std::vector<OriginCounts> slots =
        store_.lock(ids).origins(update.counter_id, update.window_ms, wall);
    append_totals(update.counter_id, update.window_ms, slots, theirs,
                  window_id_at(wall, update.window_ms), true, totals);
    ++stats_.totals_requests_answered;
  }
  if (totals.empty()) return;
  ClusterMessage answer = header(MessageType::totals, wall);
  answer.origins.push_back(asker);
  stats_.totals_records_sent += totals.size();
  answer.updates = std::make_shared<const std::vector<WireUpdate>>(std::move(totals));
  send_to(peer, now, std::move(answer));
  ++stats_.totals_messages_sent;
}

void Replicator::merge_totals(WallTime wall, const ClusterMessage& message) {
  ++stats_.totals_messages_received;
  if (!message.updates) return;
  // Totals for an earlier life of ours may include what that life counted, which is now another
  // origin's but not in our own slot: they would not double count, but they are also not ours
  // to keep, as our own slot started again from zero. Dropped, counted.
  if (message.origins.size() != 1 || message.origins.front() != origins_.local()) {
    ++stats_.totals_stale;
    return;
  }
  for (const WireUpdate& update : *message.updates) {
    ++stats_.updates_received;
    const std::array<std::uint64_t, 1> ids{update.counter_id};
    if (update.origin != 0 ||
        !store_.lock(ids).merge(update.counter_id, update.window_ms, wall, owners_total_origin,
                                update.window_id, update.count)) {
      ++stats_.updates_dropped;
    }
  }
  // Checks waiting for their keys' owners' totals look again.
  if (totals_requests_ != nullptr) totals_requests_->answered();
}

bool Replicator::is_owner(std::string_view node_id, std::uint64_t counter_id) const {
  const std::vector<std::string>& ring = owners_.members();
  const auto at = std::lower_bound(ring.begin(), ring.end(), node_id);
  if (at == ring.end() || *at != node_id) return false;
  const auto member = static_cast<std::uint32_t>(at - ring.begin());
  std::array<std::uint32_t, bounds::owners_per_key> owners{};
  const std::size_t count = owners_.owners_of(counter_id, owners);
  return std::find(owners.begin(), owners.begin() + static_cast<std::ptrdiff_t>(count), member) !=
         owners.begin() + static_cast<std::ptrdiff_t>(count);
}

void Replicator::send_totals_of(Peer& peer, MonoTime now, WallTime wall) {
  // scratch_ holds a slice of our store, each key's slots together, no owners' total among them.
  const std::optional<std::uint32_t> theirs = origins_.find(Origin{peer.node_id, peer.incarnation});
  std::vector<WireUpdate> totals;
  std::size_t at = 0;
  while (at < scratch_.size()) {
    const std::uint64_t id = scratch_[at].counter_id;
    std::size_t end = at;
    while (end < scratch_.size() && scratch_[end].counter_id == id) ++end;
    if (is_owner(config_.node_id, id) && !is_owner(peer.node_id, id)) {
      // Per window: every origin's count but the peer's own.
      std::vector<WireUpdate> windows;
      for (std::size_t k = at; k < end; ++k) {
        const SlotUpdate& slot = scratch_[k];
        if (theirs && slot.origin == *theirs) continue;
        auto same = std::find_if(windows.begin(), windows.end(), [&](const WireUpdate& w) {
          return w.window_id == slot.window_id;
        });
        if (same == windows.end()) {
          windows.push_back(WireUpdate{id, slot.window_ms, slot.window_id, 0, 0});
          same = windows.end() - 1;
        }
        same->count = clamp_count(static_cast<std::uint64_t>(same->count) + slot.count);
      }
      totals.insert(totals.end(), windows.begin(), windows.end());
    }
    at = end;
  }
  if (totals.empty()) return;
  ClusterMessage message = header(MessageType::totals, wall);
  message.origins.push_back(Origin{peer.node_id, peer.incarnation});
  stats_.totals_records_sent += totals.size();
  message.updates = std::make_shared<const std::vector<WireUpdate>>(std::move(totals));
  send_to(peer, now, std::move(message));
  ++stats_.totals_messages_sent;
}

bool Replicator::has_cluster_counts() const {
  if (peers_.empty()) return true;
  if (!synced_since_start_) return false;
  if (!owners_mode_ && !owners_sync_seen_) return true;
  // Through owners, a peer's full sync holds the counts of the keys it owns (a sender in owners
  // mode says so, kFlagOwnersSync, for a node still in the mesh itself): every live peer this
  // node has heard must have sent its own (each a small part of the whole).
  for (const Peer& peer : peers_.all()) {
    if (peer.heard && peer.state == PeerState::alive && !peer.synced_from) return false;
  }
  return true;
}

}  // namespace drl::core
