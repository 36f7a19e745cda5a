#include "core/peer_table.hpp"

#include <algorithm>

#include "core/assert.hpp"

namespace drl::core {

std::string_view peer_state_name(PeerState state) {
  switch (state) {
    case PeerState::alive:
      return "alive";
    case PeerState::suspect:
      return "suspect";
    case PeerState::down:
      return "down";
    case PeerState::unknown:
      return "unknown";
    case PeerState::left:
      return "left";
  }
  return "unknown";
}

Peer* PeerTable::find(const std::string& address) {
  const auto it = by_address_.find(address);
  return it == by_address_.end() ? nullptr : it->second;
}

const Peer* PeerTable::find(const std::string& address) const {
  const auto it = by_address_.find(address);
  return it == by_address_.end() ? nullptr : it->second;
}

Peer* PeerTable::add(const std::string& address, bool configured, MonoTime now) {
  if (peers_.size() >= peers_max_) return nullptr;
  auto peer = std::make_unique<Peer>();
  peer->address = address;
  peer->configured = configured;
  peer->state_since = now;
  Peer* added = peer.get();
  const bool indexed = by_address_.emplace(address, added).second;
  DRL_ASSERT(indexed, "one peer per address");
  peers_.push_back(std::move(peer));
  check_index();
  return added;
}

void PeerTable::move_to(Peer& peer, const std::string& address) {
  DRL_ASSERT(find(peer.address) == &peer, "a peer that moves is in the table");
  if (address == peer.address) return;
  const bool indexed = by_address_.emplace(address, &peer).second;
  DRL_ASSERT(indexed, "one peer per address");
  by_address_.erase(peer.address);
  peer.address = address;
  check_index();
}

void PeerTable::erase(const Peer& peer) {
  const auto it =
      std::find_if(peers_.begin(), peers_.end(),
                   [&](const std::unique_ptr<Peer>& entry) { return entry.get() == &peer; });
  DRL_ASSERT(it != peers_.end(), "a peer erased is in the table");
  by_address_.erase(peer.address);
  peers_.erase(it);
  check_index();
}

void PeerTable::check_index() const {
  DRL_ASSERT(peers_.size() <= peers_max_ && by_address_.size() == peers_.size(),
             "the peer table within peers_max, its index of addresses complete");
}

}  // namespace drl::core
