// The replicator's peers: where each lives, and the index of them by address.
//
// A peer stays at one place in memory from add() until it is erased, whatever else is added,
// erased or renamed meanwhile, so a Peer& held while handling a datagram stays valid when that
// datagram teaches members (adds) or merges an alias (erases another entry). Only erasing the
// peer itself ends it, and erase() refuses to do that behind the caller's back: it names the
// one to erase. Bounded: at most peers_max entries; one entry per address, always.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "core/counter_store.hpp"
#include "core/time.hpp"

namespace drl::core {

// `left`: it announced a clean stop; it stays so until a new incarnation of it is heard.
enum class PeerState : std::uint8_t { alive = 0, suspect = 1, down = 2, unknown = 3, left = 4 };
std::string_view peer_state_name(PeerState state);

struct Peer {
  std::string address;  // changed only through PeerTable::move_to, which keeps the index
  std::string node_id;
  std::uint64_t incarnation = 0;
  PeerState state = PeerState::unknown;
  bool configured = false;
  bool heard = false;
  MonoTime last_heard;
  MonoTime state_since;
  std::uint64_t ping_token = 0;
  MonoTime ping_sent;
  WallTime ping_sent_wall;
  // The heartbeat before, so that a round trip longer than the interval is still measured.
  std::uint64_t previous_token = 0;
  MonoTime previous_sent;
  WallTime previous_sent_wall;
  std::int64_t rtt_us = -1;
  std::int64_t clock_offset_ms = 0;
  bool offset_measured = false;
  bool acked = false;
  MonoTime last_acked;  // when it last acknowledged a heartbeat of ours, straight or relayed
  // When it last acknowledged a heartbeat we sent it straight: it hears us without a relay.
  bool acked_direct = false;
  MonoTime last_acked_direct;
  // Reaching it through a relay (a one-way cut: we hear it, it no longer hears us): the peer
  // that forwards our datagrams to it (empty until one is picked), the tokens of the last two
  // heartbeats sent through that relay (0: acknowledged, or none out; the one before counts
  // too, so that a round trip through the relay longer than the interval is still answered),
  // how many rounds in a row went unanswered (two: try the next relay), and where the search
  // for the next relay resumes.
  std::string relay;
  std::uint64_t relay_token = 0;
  std::uint64_t relay_previous_token = 0;
  std::uint32_t relay_unanswered = 0;
  std::size_t relay_turn = 0;
  bool full_sync_pending = false;    // we owe it a full sweep of our counts
  bool synced_from = false;          // it completed a full sweep to us since it was last silent
  bool overrides_pending = false;    // we owe it our override table
  std::uint64_t members_digest = 0;  // the members its heartbeats name (hard limits); 0: none yet
  bool reads_totals = false;         // its heartbeats say it reads totals messages (owners)
  // Cluster traffic with it since it became a member: datagrams and their bytes, sent to it
  // (straight, through a relay, or forwarded for another peer) and received from it.
  std::uint64_t datagrams_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t bytes_received = 0;
  SweepCursor sweep;

  // Forgets the relay: none picked, no relayed heartbeat awaiting its answer, no round
  // unanswered. relay_turn (where the search for the next relay resumes) is kept.
  void drop_relay() {
    relay.clear();
    relay_token = relay_previous_token = 0;
    relay_unanswered = 0;
  }
};

class PeerTable {
 public:
  explicit PeerTable(std::size_t peers_max) : peers_max_(peers_max) {}

  Peer* find(const std::string& address);
  const Peer* find(const std::string& address) const;
  // A new entry at `address` (none may be there); null when the table holds peers_max.
  Peer* add(const std::string& address, bool configured, MonoTime now);
  // The peer now lives at `address` (none other may be there); it stays where it is in memory.
  void move_to(Peer& peer, const std::string& address);
  void erase(const Peer& peer);
  // Erases every peer `doomed` says; returns how many.
  template <class Predicate>
  std::size_t erase_if(Predicate doomed);

  std::size_t size() const { return peers_.size(); }
  bool empty() const { return peers_.empty(); }
  // In the order they were added: for turns that rotate through the peers.
  Peer& at(std::size_t index) { return *peers_.at(index); }
  // Every peer, as Peer&, in the order they were added. A hand-written view rather than
  // std::views::transform: clang 14 (the sanitizer build) cannot compile libstdc++ 12's range
  // adaptors.
  template <class T>
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::remove_const_t<T>;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    Iterator() = default;
    explicit Iterator(std::vector<std::unique_ptr<Peer>>::const_iterator at) : at_(at) {}
    T& operator*() const { return **at_; }
    T* operator->() const { return at_->get(); }
    Iterator& operator++() {
      ++at_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++at_;
      return before;
    }
    bool operator==(const Iterator& other) const = default;

   private:
    std::vector<std::unique_ptr<Peer>>::const_iterator at_;
  };
  template <class T>
  struct Range {
    Iterator<T> first;
    Iterator<T> last;
    Iterator<T> begin() const { return first; }
    Iterator<T> end() const { return last; }
  };
  Range<Peer> all() { return {Iterator<Peer>(peers_.cbegin()), Iterator<Peer>(peers_.cend())}; }
  Range<const Peer> all() const {
    return {Iterator<const Peer>(peers_.cbegin()), Iterator<const Peer>(peers_.cend())};
  }

 private:
  void check_index() const;

  std::size_t peers_max_;
  // unique_ptr: growing or shrinking the vector moves the pointers, never the peers.
  std::vector<std::unique_ptr<Peer>> peers_;
  std::unordered_map<std::string, Peer*> by_address_;
};

template <class Predicate>
std::size_t PeerTable::erase_if(Predicate doomed) {
  const std::size_t erased = std::erase_if(peers_, [&](const std::unique_ptr<Peer>& peer) {
    if (!doomed(static_cast<const Peer&>(*peer))) return false;
    by_address_.erase(peer->address);
    return true;
  });
  check_index();
  return erased;
}

}  // namespace drl::core
