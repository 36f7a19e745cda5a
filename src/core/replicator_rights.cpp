// Rights of hard limits between nodes (rights_ledger.hpp): requests out, grants in and out.
#include <algorithm>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/replicator.hpp"

namespace drl::core {

void Replicator::rights_round(MonoTime now, WallTime wall) {
  if (rights_ == nullptr || !rights_->has_wants()) return;
  std::vector<std::size_t> live;  // indices into peers_, in the order they were added
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const Peer& peer = peers_.at(i);
    if (peer.heard && peer.state == PeerState::alive) live.push_back(i);
  }
  if (live.empty()) return;  // the requests wait for a peer (or for the next window)
  const std::vector<RightsWant> wants = rights_->take_wants(bounds::rights_wants_max);
  if (wants.empty()) return;
  std::vector<std::vector<RightsRecord>> records(live.size());
  for (const RightsWant& want : wants) {
    records[ask_whom(want, live)].push_back(RightsRecord{
        want.key.counter_id, want.key.window_ms, want.key.window_id, want.limit, want.amount, 0});
  }
  for (std::size_t turn = 0; turn < live.size(); ++turn) {
    const std::span<const RightsRecord> all(records[turn]);
    for (std::size_t at = 0; at < all.size(); at += bounds::rights_records_per_message_max) {
      Peer& peer = peers_.at(live[turn]);
      ClusterMessage message = header(MessageType::rights, wall);
      message.granted_to = peer.incarnation;
      const auto chunk =
          all.subspan(at, std::min(bounds::rights_records_per_message_max, all.size() - at));
      message.rights.assign(chunk.begin(), chunk.end());
      stats_.rights_requests_sent += chunk.size();
      send_to(peer, now, std::move(message));
    }
  }
}

// The next peer in turn from the key (the next one at each request, so that the requests for
// many keys, and those of many nodes for one key, spread over the peers), skipping those that
// answered since the last grant that they had nothing to spare. The gossiped counts do not
// choose: preferring peers whose count is below a share gave more false rejects and more
// traffic with even demand, and the same with one-node demand (docs/replication.md).
std::size_t Replicator::ask_whom(const RightsWant& want, std::span<const std::size_t> live) {
  const std::size_t peers = live.size();
  const std::size_t first = static_cast<std::size_t>((want.key.counter_id + want.asks) % peers);
  const std::vector<std::uint32_t> refused = rights_->refused_by(want.key);
  if (refused.empty()) return first;
  for (std::size_t step = 0; step < peers; ++step) {
    const std::size_t k = (first + step) % peers;
    const Peer& peer = peers_.at(live[k]);
    // A refusal came from a known origin: a peer the table does not hold has not refused.
    const std::optional<std::uint32_t> origin =
        origins_.find(Origin{peer.node_id, peer.incarnation});
    if (!origin || std::find(refused.begin(), refused.end(), *origin) == refused.end()) return k;
  }
  return first;  // every live peer refused; one that is not live now may not have
}

void Replicator::on_rights(MonoTime now, WallTime wall, Peer& peer, const ClusterMessage& message) {
  ++stats_.rights_messages_received;
  if (rights_ == nullptr) return;
  const std::optional<std::uint32_t> sender = origins_.index_of(
      Origin{message.sender_id, message.sender_incarnation}, now, config_.origin_retire_after_ms);
  if (!sender) return;  // the origin table is full: counted there
  const bool for_us = message.granted_to == origins_.local().incarnation;
  ClusterMessage reply = header(MessageType::rights, wall);
  reply.granted_to = message.sender_incarnation;
  for (const RightsRecord& record : message.rights) {
    const RightsKey key{record.counter_id, record.window_ms, record.window_id};
    if (record.asked == 0) {
      // An answer to a request of ours. A grant made to an earlier life of ours was spent, or
      // lost, by that life.
      if (for_us) {
        stats_.rights_received +=
            rights_->answered(key, *sender, record.granted_total, rights_->split().members);
      } else if (record.granted_total > 0) {
        ++stats_.rights_grants_stale;
      }
      continue;
    }
    reply.rights.push_back(RightsRecord{record.counter_id, record.window_ms, record.window_id, 0, 0,
                                        grant(wall, *sender, record)});
  }
  // Every request is answered, with what was granted in all (a lost grant travels again).
  if (!reply.rights.empty()) send_to(peer, now, std::move(reply));
}

std::uint64_t Replicator::grant(WallTime wall, std::uint32_t recipient, const RightsRecord& ask) {
  const RightsKey key{ask.counter_id, ask.window_ms, ask.window_id};
  // Under the counter's shard lock: no check of this node counts there meanwhile.
  const std::uint64_t id = ask.counter_id;
  auto locked = store_.lock(std::span<const std::uint64_t>(&id, 1));
  const std::uint64_t granted = rights_->given_to(key, recipient);
  const std::optional<std::uint64_t> own = locked.own_in_window(
      ask.counter_id, ask.window_ms, ask.window_id, wall, OriginTable::local_index);
  if (!own) {
    ++stats_.rights_requests_refused;
    return granted;
  }
  const std::int64_t rights = static_cast<std::int64_t>(rights_in_window(
                                  rights_->split(), ask.limit, ask.window_id, ask.window_ms)) +
                              rights_->net(key);
  const std::int64_t spare = rights - static_cast<std::int64_t>(*own);
  if (spare <= 0) return granted;
  // A node that counts in this window itself keeps half of what it has left.
  const auto offer = static_cast<std::uint64_t>(*own > 0 ? spare / 2 : spare);
  const std::uint64_t amount = std::min(ask.asked, offer);
  if (amount == 0) return granted;
  const std::optional<std::uint64_t> total = rights_->give(key, recipient, amount);
  if (!total) return granted;
  stats_.rights_granted += amount;
  return *total;
}

void Replicator::note_members(WallTime wall, Peer& peer, std::uint64_t digest) {
  if (rights_ == nullptr) return;
  peer.members_digest = digest;
  const RightsSplit split = rights_->split();
  if (peer.configured && digest != split.members_digest) ++stats_.rights_members_mismatched;
  if (!rights_->awaiting_members()) return;
  // Every other member: as many configured peers as the split counts beside this node (a peer
  // that did not resolve has no entry, so none is missed).
  std::size_t agreeing = 0;
  for (const Peer& member : peers_.all()) {
    if (member.configured && member.members_digest == split.members_digest) ++agreeing;
  }
  if (agreeing + 1 >= split.members) rights_->members_agreed(wall);
}

}  // namespace drl::core
