#include "wire/cluster_node.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/bounds.hpp"

namespace drl::wire {

ClusterNode::ClusterNode(core::ReplicationConfig config, CodecOptions codec,
                         core::CounterStore& store, core::OriginTable& origins)
    : replicator_(std::move(config), store, origins), codec_(std::move(codec)) {
  const std::string& address = replicator_.config().address;
  if (!address.empty()) own_tag_ = destination_tag(address);
}

bool ClusterNode::accept_sequence(const core::ClusterMessage& message,
                                  std::uint32_t destination_tag, std::uint64_t sequence) {
  std::string key = message.sender_id;
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(&destination_tag), sizeof destination_tag);
  auto it = replay_.find(key);
  if (it == replay_.end()) {
    if (replay_.size() >= bounds::replay_windows_max) {
      replay_.erase(replay_.begin());
      ++stats_.replay_windows_evicted;
    }
    replay_.emplace(std::move(key), ReplayWindow{message.sender_incarnation, sequence, 1});
    return true;
  }
  ReplayWindow& window = it->second;
  if (message.sender_incarnation != window.incarnation) {
    // A later incarnation starts a new sequence. An earlier one is a replay of an old life,
    // unless that node is silent to us: then it restarted with its clock set back.
    if (message.sender_incarnation < window.incarnation && !replicator_.silent(message.sender_id)) {
      return false;
    }
    window = ReplayWindow{message.sender_incarnation, sequence, 1};
    return true;
  }
  if (sequence > window.highest) {
    const std::uint64_t shift = sequence - window.highest;
    window.seen = shift >= 64 ? 1 : (window.seen << shift) | 1;
    window.highest = sequence;
    return true;
  }
  const std::uint64_t age = window.highest - sequence;
  if (age >= 64) return false;
  const std::uint64_t bit = std::uint64_t{1} << age;
  if ((window.seen & bit) != 0) return false;
  window.seen |= bit;
  return true;
}

void ClusterNode::on_datagram(core::MonoTime now, core::WallTime wall, const std::string& from,
                              std::string_view bytes) {
  ++stats_.received;
  stats_.received_bytes += bytes.size();
  DecodedDatagram decoded;
  DropReason reason = DropReason::malformed;
  if (!codec_.open(bytes, decoded, reason)) {
    ++stats_.dropped[static_cast<std::size_t>(reason)];
    return;
  }
  if (!accept_sequence(decoded.message, decoded.destination_tag, decoded.sequence)) {
    ++stats_.dropped[static_cast<std::size_t>(DropReason::replayed)];
    return;
  }
  // "You have all my counts" and "send me all yours" speak of the receiver. A peer that has heard
  // us sends them to the address we advertise (the one it knows us by), so under another tag
  // they are a datagram captured on its way to another node: it would make its sender look
  // synced to us, or move our repairs to it. The rest of it still counts (its counts are
  // genuine and absolute). Without an advertised address we cannot tell (security.md).
  if (own_tag_ && decoded.destination_tag != *own_tag_) {
    decoded.message.flags &=
        static_cast<std::uint8_t>(~(core::kFlagSyncComplete | core::kFlagWantSync));
  }
  replicator_.on_message(now, wall, from, decoded.message);
}

void ClusterNode::on_timer(core::MonoTime now, core::WallTime wall) {
  replicator_.on_timer(now, wall);
}

std::vector<OutgoingDatagram> ClusterNode::take_datagrams() {
  std::vector<OutgoingDatagram> out;
  // A delta goes to every peer: encode its bodies once, seal them per destination.
  std::unordered_map<const void*, std::vector<std::string>> shared_bodies;
  for (core::Outgoing& outgoing : replicator_.take_outgoing()) {
    const core::ClusterMessage& message = outgoing.message;
    const bool shared = message.type == core::MessageType::delta && message.updates;
    std::vector<std::string> local_bodies;
    const std::vector<std::string>* bodies = nullptr;
    if (shared) {
      auto it = shared_bodies.find(message.updates.get());
      if (it == shared_bodies.end()) {
        it = shared_bodies.emplace(message.updates.get(), codec_.encode_bodies(message)).first;
      }
      bodies = &it->second;
    } else {
      std::size_t left_out = 0;
      local_bodies = codec_.encode_bodies(message, &left_out);
      stats_.overrides_left_out += left_out;
      bodies = &local_bodies;
    }
    auto entry = next_sequence_.try_emplace(outgoing.address, sequence_high_water_).first;
    std::uint64_t& sequence = entry->second;
    const std::uint32_t tag = destination_tag(outgoing.address);
    for (const std::string& body : *bodies) {
      std::string datagram = codec_.seal(body, ++sequence, tag);
      sequence_high_water_ = std::max(sequence_high_water_, sequence);
      ++stats_.sent;
      stats_.sent_bytes += datagram.size();
      out.push_back(OutgoingDatagram{outgoing.address, std::move(datagram)});
    }
  }  // Sequence counters of destinations that are no longer peers go (made again, they start at
  // the high-water mark, above anything their receiver saw).
  if (next_sequence_.size() > 2 * replicator_.config().peers_max + 16) {
    std::map<std::string, std::uint64_t> kept;
    for (const core::PeerStatus& peer : replicator_.peers(core::MonoTime{})) {
      if (const auto it = next_sequence_.find(peer.address); it != next_sequence_.end()) {
        kept.insert(*it);
      }
    }
    next_sequence_.swap(kept);
  }
  return out;
}

}  // namespace drl::wire
