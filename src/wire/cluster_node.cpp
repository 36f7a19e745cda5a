#include "wire/cluster_node.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/assert.hpp"
#include "core/bounds.hpp"
#include "wire/cluster_body.hpp"

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
  // By the address it is known at (a relayed datagram came from the relay's).
  replicator_.note_received(
      decoded.message.sender_address.empty() ? from : decoded.message.sender_address, bytes.size());
}

void ClusterNode::on_timer(core::MonoTime now, core::WallTime wall) {
  replicator_.on_timer(now, wall);
}

std::vector<OutgoingDatagram> ClusterNode::take_datagrams() {
  std::vector<OutgoingDatagram> out;
  const auto emit = [&](const std::string& address, std::string datagram, bool forwarded) {
    ++stats_.sent;
    stats_.sent_bytes += datagram.size();
    out.push_back(OutgoingDatagram{address, std::move(datagram), forwarded});
  };
  const auto next_sequence = [&](const std::string& address) {
    std::uint64_t& sequence =
        next_sequence_.try_emplace(address, sequence_high_water_).first->second;
    sequence_high_water_ = std::max(sequence_high_water_, ++sequence);
    return sequence;
  };
  // A delta goes to every peer: encode its bodies once, seal them per destination.
  std::unordered_map<const void*, std::vector<std::string>> shared_bodies;
  for (core::Outgoing& outgoing : replicator_.take_outgoing()) {
    const core::ClusterMessage& message = outgoing.message;
    if (message.type == core::MessageType::relay) {
      // Forwarded for a peer: its datagram as it sealed it (its sequence, its MAC).
      DRL_ASSERT(message.relay_payload && outgoing.via.empty(), "a forward carries a datagram");
      replicator_.note_sent(outgoing.address, 1, message.relay_payload->size());
      emit(outgoing.address, *message.relay_payload, true);
      continue;
    }
    // Through a relay: each datagram, sealed for its destination as usual, goes to the relay
    // inside a relay message of ours, with room left for that envelope.
    core::ClusterMessage envelope;
    std::size_t reserve = 0;
    if (!outgoing.via.empty()) {
      envelope.type = core::MessageType::relay;
      envelope.sender_id = message.sender_id;
      envelope.sender_incarnation = message.sender_incarnation;
      envelope.sender_address = message.sender_address;
      envelope.sent_wall_ms = message.sent_wall_ms;
      envelope.relay_to = outgoing.address;
      reserve = codec_.relay_overhead_bytes(envelope);
      // An envelope that would take more than half a datagram (long ids and addresses in small
      // datagrams): the message goes straight, as if there were no relay.
      if (reserve > codec_.body_bytes_max() / 2) {
        outgoing.via.clear();
        reserve = 0;
      }
    }
    const bool shared = message.type == core::MessageType::delta && message.updates && reserve == 0;
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
      local_bodies = codec_.encode_bodies(message, &left_out, reserve);
      stats_.overrides_left_out += left_out;
      bodies = &local_bodies;
    }
    const std::uint32_t tag = destination_tag(outgoing.address);
    const std::size_t bytes_before = stats_.sent_bytes;
    for (const std::string& body : *bodies) {
      std::string datagram = codec_.seal(body, next_sequence(outgoing.address), tag);
      if (outgoing.via.empty()) {
        emit(outgoing.address, std::move(datagram), false);
        continue;
      }
      envelope.relay_payload = std::make_shared<const std::string>(std::move(datagram));
      std::string wrapped = codec_.seal(relay_body(envelope), next_sequence(outgoing.via),
                                        destination_tag(outgoing.via));
      DRL_ASSERT(wrapped.size() <= codec_.datagram_bytes_max(), "a relay message fits a datagram");
      emit(outgoing.via, std::move(wrapped), false);
    }
    replicator_.note_sent(outgoing.address, bodies->size(),
                          static_cast<std::size_t>(stats_.sent_bytes - bytes_before));
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
