// Replication of counts between nodes, sans I/O: messages and time in, messages out.
//
// Every gossip interval the node sends the local counts that changed (absolute values of its
// own origin, so loss, duplication and reordering never corrupt a count) to every live peer,
// and once more in the next round the counts that did not change again: a key that stops
// changing (at its limit, typically) is then hidden from a peer only if both copies are lost.
// Heartbeats carry a sample of the membership (how nodes join through any known peer) and a
// token whose echo gives the round trip and the clock offset. Anti-entropy sends every live
// slot of every origin, a bounded slice per repair interval, to one peer at a time: at once to
// a peer that is new, restarted or back from a partition (so a restarted node gets its old
// counts back), and as a slow background sweep to all, which repairs any lost delta.
//
// Runtime overrides (set_overrides) travel the same three ways, as whole tables: in the gossip
// round after the table changed, to the peers a delta would go to; at once to a peer that is
// new, restarted or back (so a restarted node gets them back); and every
// override_sync_interval to every live peer, which repairs any loss. Tables merge by
// last-writer-wins per scope, and a merge that changes nothing does not count as a change, so
// the pushes stop once every node holds the same records.
//
// A peer this node hears but that stops acknowledging the heartbeats sent to it straight (a
// one-way cut) is reached through a relay: another peer that hears us forwards our datagrams
// to it (relay_for). Without that, the peer would stop hearing us, mark us down and stop
// sending us its counts: a loss both ways.
//
// In a large cluster (dissemination "owners", or "auto" from bounds::owners_from_members live
// members) counts travel through key owners instead (replicator_owners.cpp, key_owners.hpp): a
// node sends its changed counts only to each key's owners, and each owner tells each node
// that counts the key what all the other origins counted there (a totals message), so that a
// node's traffic and memory follow its own keys, not the number of members.
//
// Single-threaded: one caller drives on_message/on_timer and drains take_outgoing().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/bounds.hpp"
#include "core/cluster_message.hpp"
#include "core/counter_store.hpp"
#include "core/dissemination.hpp"
#include "core/key_owners.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "core/partition_policy.hpp"
#include "core/peer_table.hpp"
#include "core/rights_ledger.hpp"
#include "core/time.hpp"
#include "core/totals_requests.hpp"

namespace drl::core {

struct ReplicationConfig {
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::string address;             // advertised "host:port"
  std::vector<std::string> seeds;  // configured peers ("host:port")
  std::int64_t gossip_interval_ms = 5;
  std::int64_t heartbeat_interval_ms = 200;
  std::int64_t suspect_after_ms = 1000;
  std::int64_t down_after_ms = 3000;
  // Under the proportional policy, a peer counts as unreachable for the share as soon as no
  // datagram, or no acknowledgement of our heartbeats, has come from it for this long: a
  // partition shrinks the limits well before suspect_after, which the window in which it
  // begins pays for (docs/replication.md, "Partitions"). At most suspect_after.
  std::int64_t unreachable_after_ms = 500;
  std::int64_t forget_after_ms = 600'000;  // learned (not configured) peers down this long
  std::int64_t repair_interval_ms = 100;
  std::size_t repair_updates_per_interval = 4096;
  std::size_t delta_updates_per_round_max = 65'536;
  std::size_t peers_max = 1024;
  std::size_t members_per_heartbeat = 16;
  std::int64_t origin_retire_after_ms = 2 * 31LL * 24 * 3600 * 1000;
  // Anti-entropy of overrides: the whole table to every live peer this often (when not empty).
  std::int64_t override_sync_interval_ms = 1000;
  Dissemination dissemination = Dissemination::automatic;
  // Through key owners, how long a key's first check on this node waits for the owners' totals
  // (core/totals_requests.hpp); 0: it does not wait.
  std::int64_t totals_wait_max_ms = static_cast<std::int64_t>(bounds::totals_wait_default_ms);
};

struct PeerStatus {
  std::string address;
  std::string node_id;  // empty until heard
  std::uint64_t incarnation = 0;
  PeerState state = PeerState::unknown;
  std::int64_t last_heard_ms_ago = -1;  // -1: never
  std::int64_t rtt_us = -1;             // -1: not measured yet
  std::int64_t clock_offset_ms = 0;     // peer's wall clock minus ours
  bool configured = false;              // from the config, never forgotten
  bool syncing = false;                 // a full anti-entropy sweep to it is under way
  bool synced = false;                  // it sent us all its counts since it was last silent
  bool hears_us = false;                // it acknowledged a heartbeat of ours lately
  std::string via;  // the peer we reach it through (a one-way cut); empty: straight
  // A configured peer whose heartbeats name other members than ours: hard limits take no
  // shares until every member names the same ones (docs/replication.md).
  bool other_members = false;
  // Cluster datagrams and bytes sent to it and received from it since it became a member.
  std::uint64_t datagrams_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t bytes_received = 0;
};

struct ReplicationStats {
  std::uint64_t delta_messages_sent = 0;
  std::uint64_t repair_messages_sent = 0;
  std::uint64_t heartbeats_sent = 0;
  std::uint64_t acks_sent = 0;
  std::uint64_t updates_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t updates_received = 0;
  std::uint64_t updates_dropped = 0;  // stale windows, or no room in the store or origin table
  // Datagrams carrying this node's own id (a copy of its own, replayed or looped back through
  // an address it does not know as its own): dropped, they change nothing.
  std::uint64_t messages_from_self = 0;
  // Datagrams without an address (a wildcard-bound sender) from a source that is not its entry's,
  // sent by a node that a peer at another address stands for and that hears us: dropped (a replay
  // from a forged source, or a sender whose address just changed, heard again once the old entry
  // no longer hears us).
  std::uint64_t messages_from_second_address = 0;
  std::uint64_t messages_old_incarnation = 0;
  std::uint64_t peers_joined = 0;
  std::uint64_t peers_restarted = 0;
  std::uint64_t peers_rejected = 0;  // peers_max reached
  std::uint64_t peers_moved = 0;     // an address-less sender's entry moved to its new source
  // Configured addresses never heard whose heartbeat a configured peer echoed: not merged (see
  // the ack case of on_message).
  std::uint64_t aliases_refused = 0;
  std::uint64_t full_syncs_completed = 0;
  std::uint64_t override_messages_sent = 0;
  std::uint64_t override_records_sent = 0;
  std::uint64_t override_messages_received = 0;
  std::uint64_t override_records_received = 0;
  std::uint64_t override_records_merged = 0;  // received records that changed our table
  // Around one-way cuts: messages this node sent to a peer through a relay; datagrams it
  // forwarded for a peer; relay requests it refused (destination not a live peer of ours, or
  // the sender's, or bounds::relay_datagrams_per_second_max reached: a budget all senders
  // share).
  std::uint64_t relayed_messages_sent = 0;
  std::uint64_t relay_datagrams_forwarded = 0;
  std::uint64_t relay_datagrams_refused = 0;
  // Peers that announced a clean stop (leave), and datagrams of theirs that came after it: their
  // counts and overrides are merged, nothing else (a stopped node is not brought back to life
  // by its own late datagrams).
  std::uint64_t peers_left = 0;
  // Addresses of [cluster] seeds that were not members yet, added as learned members.
  std::uint64_t seed_addresses_added = 0;
  std::uint64_t messages_after_leave = 0;
  // Rights of hard limits (rights_ledger.hpp): requests sent (one per counter and window at a
  // time), rights granted to peers and received from them, grants for an earlier incarnation of
  // ours (dropped), requests refused because this node cannot tell what it counted there,
  // heartbeats of configured peers that named other members than ours.
  std::uint64_t rights_requests_sent = 0;
  std::uint64_t rights_messages_received = 0;
  std::uint64_t rights_granted = 0;
  std::uint64_t rights_received = 0;
  std::uint64_t rights_grants_stale = 0;
  std::uint64_t rights_requests_refused = 0;
  std::uint64_t rights_members_mismatched = 0;
  // 1 once this node takes shares of hard limits' windows (every other member named the same
  // members; at once for a node alone), 0 while it waits for them: the ledger's, in stats().
  std::uint64_t rights_members_agreed = 1;
  // Owner dissemination: 1 while counts travel through owners. Totals (what the other origins
  // counted) sent to the nodes counting a key this node owns, their records, totals received,
  // totals received for an earlier incarnation of ours (dropped: they may hold our own counts),
  // keys changed while owner_forward_keys_max were waiting to be forwarded (left to the next).
  std::uint64_t owners_mode = 0;
  std::uint64_t totals_messages_sent = 0;
  std::uint64_t totals_records_sent = 0;
  std::uint64_t totals_messages_received = 0;
  std::uint64_t totals_stale = 0;
  std::uint64_t owner_forwards_dropped = 0;
  // Keys' first checks: the keys this node asked their owners' totals of (a record each, to
  // each owner), the keys it answered such a request for as an owner, and the requests refused
  // (per check and limit) because bounds::totals_wants_max keys had been asked for within
  // totals_wait_max: that limit is decided without its totals.
  std::uint64_t totals_requests_sent = 0;
  std::uint64_t totals_requests_answered = 0;
  std::uint64_t totals_requests_refused = 0;
  // The share of keys this node is the first owner of, in thousandths (0 in the mesh).
  std::uint64_t owner_share_permille = 0;
};

// This node's own count of a slot as a delta's record (origin 0: the message's one origin).
inline WireUpdate own_count_record(const SlotUpdate& slot) {
  return WireUpdate{slot.counter_id, slot.window_ms, slot.window_id, 0, slot.count};
}

struct Outgoing {
  std::string address;
  ClusterMessage message;
  // Empty: straight to `address`. Otherwise through the peer at `via`: the wire layer seals the
  // message for `address` as usual and sends each datagram to `via` inside a relay message.
  std::string via;
};

class Replicator {
 public:
  Replicator(ReplicationConfig config, CounterStore& store, OriginTable& origins);

  // `from` is the datagram's source address; `now` monotonic, `wall` for windows and offsets.
  // `message` passed the wire layer's checks (checksum or MAC, replay window), but may still be
  // a genuine datagram replayed from another source or captured on its way to another node:
  // one carrying this node's own id changes nothing, and the source address of one that
  // carries no address decides which peer it is only as far as peer_for_source allows.
  void on_message(MonoTime now, WallTime wall, const std::string& from,
                  const ClusterMessage& message);
  void on_timer(MonoTime now, WallTime wall);

  // Before a clean stop: sends the changes not sent yet, so that a stopped node's last counts
  // (and overrides) reach its peers, then tells every peer that it leaves (twice, for loss).
  void final_round(MonoTime now, WallTime wall);
  // Sends the requests that checks left now, not at the next gossip round: for rights in the
  // ledger (a check waits for the answer: a policy's rights_wait_max), and for owners' totals
  // (a key's first check waits for them: totals_wait_max).
  void rights_now(MonoTime now, WallTime wall) {
    rights_round(now, wall);
    totals_request_round(now, wall);
  }

  // An address a seed name resolved to: a learned member if it is not one yet (and not ours),
  // which gets heartbeats, and is forgotten forget_after after it goes down, or if it never
  // answers. True if it was added.
  bool add_seed(MonoTime now, const std::string& address);

  // The override table to replicate: sent to peers, merged from theirs. Not owned; it must
  // outlive the replicator (or be replaced first). Null (the default): overrides are neither
  // sent nor merged, and nothing else changes. The table may be changed by other threads at
  // any time; the replicator notices through its version.
  void set_overrides(OverrideTable* table);

  // The rights of hard limits to lend and borrow (the same ledger as the check engine's). Not
  // owned; it must outlive the replicator. Null (the default): no request goes out, and
  // requests and grants that come in are dropped.
  void set_rights(RightsLedger* ledger) { rights_ = ledger; }
  // Where checks ask for their keys' owners' totals (the check engine's). Not owned; it must
  // outlive the replicator. Null (the default): no check waits, no request goes out.
  void set_totals_requests(TotalsRequests* requests) { totals_requests_ = requests; }

  std::vector<Outgoing> take_outgoing();
  // The wire layer's count of what went to, and came from, the member at `address` (none
  // there: not counted), for the traffic per peer that status shows.
  void note_sent(const std::string& address, std::size_t datagrams, std::size_t bytes);
  void note_received(const std::string& address, std::size_t bytes);
  MonoTime next_deadline() const;

  std::vector<PeerStatus> peers(MonoTime now) const;
  // (1 + reachable peers) / (1 + known peers), in thousandths. A peer is reachable when
  // datagrams flow both ways (we hear it, and it acknowledged one of our heartbeats within
  // suspect_after) and it has sent us every count it holds since it was last silent. Two-way
  // makes reachability symmetric, so the sides of any cut, one-way ones included, get shares
  // that add up to at most one.
  std::uint32_t reachable_permille(MonoTime now) const;
  // How long ago the least recently heard live peer was heard: the age of the oldest
  // contribution a decision may be missing.
  std::int64_t staleness_ms(MonoTime now) const;
  // True if `node_id` is not a live peer of ours (unknown, down, or never heard): a datagram
  // from an earlier incarnation of it may then start a new life (its clock went back).
  bool silent(const std::string& node_id) const;
  // A peer has sent this node every count it holds since this node started, or the node knows
  // no peer (a lone node, or the first of a cluster): what a starting node waits for before it
  // decides (core/warmup.hpp).
  // Through key owners, every peer on the ring has (each sends the keys it owns).
  bool has_cluster_counts() const;
  // What the replicator counted; rights_members_agreed as the ledger says it.
  ReplicationStats stats() const {
    ReplicationStats out = stats_;
    out.rights_members_agreed = rights_ != nullptr && rights_->awaiting_members() ? 0 : 1;
    if (totals_requests_ != nullptr)
      out.totals_requests_refused = totals_requests_->wants_refused();
    return out;
  }
  const ReplicationConfig& config() const { return config_; }

 private:
  // The entry an address-less datagram from `from` belongs to, made or moved if needed; null if
  // the datagram is to be dropped. See on_message.
  Peer* peer_for_source(MonoTime now, const std::string& from, const ClusterMessage& message);
  // It owes us all its counts, and we owe it ours and our overrides.
  static void resync(Peer& peer);
  // Brings the next repair round forward to `now`: a peer that is new, restarted or back holds
  // its answers (or decides on partial counts) until its full sync arrives. Several resyncs
  // before the round share it.
  void sync_soon(MonoTime now);
  // It acknowledged a heartbeat of ours within suspect_after.
  bool hears_us(const Peer& peer, MonoTime now) const;
  // The relay to reach `peer` through, picking one if needed; empty: send straight. A peer we
  // hear is reached through a relay once it has acknowledged no heartbeat we sent it straight
  // for unreachable_after (a one-way cut), until it does again.
  std::string relay_for(Peer& peer, MonoTime now);
  // Whether `relay` may carry our datagrams to `peer`: a live peer other than it that hears us
  // straight.
  bool relay_candidate(const Peer& relay, const Peer& peer, MonoTime now) const;
  // Moves `peer` to its next relay candidate, in turn (none: the relay is cleared).
  void next_relay(Peer& peer, MonoTime now);
  // Sends `message` to `peer`, through its relay if it has one.
  void send_to(Peer& peer, MonoTime now, ClusterMessage message);
  // A leave from `peer`'s current (or a newer) incarnation: it is `left` from now on.
  void on_leave(MonoTime now, Peer& peer, const ClusterMessage& message);
  // A relay request from `sender`: forwards its payload if the request is one we take.
  void forward_relay(MonoTime now, const Peer& sender, const ClusterMessage& message);
  // A new entry (counted as rejected when the table is full).
  Peer* add_peer(const std::string& address, bool configured, MonoTime now);
  void send(const std::string& address, ClusterMessage message);
  ClusterMessage header(MessageType type, WallTime wall) const;
  void gossip_round(MonoTime now, WallTime wall);
  // Whether a delta goes to `peer` this round.
  bool delta_target(const Peer& peer, MonoTime now) const;
  // Sends `slots`, counts of our own origin, as a delta to every delta_target.
  void send_delta_to_all(MonoTime now, WallTime wall, const std::vector<SlotUpdate>& slots);
  // Owner dissemination (replicator_owners.cpp). Decides the mode from the members and brings
  // the ring up to date, each gossip round.
  void refresh_owners(MonoTime now);
  // Whether `peer` is on the ring: heard lately.
  bool owner_member(const Peer& peer, MonoTime now) const;
  // Sends this round's updates (scratch_) to their keys' owners.
  void send_to_owners(MonoTime now, WallTime wall);
  // Adds the next slice of this node's own counts to scratch_, while owners_resend_.
  void resend_own_counts(WallTime wall);
  // Whether the key's owners now are the ones it had on resend_since_'s ring (as node ids).
  bool same_owners(std::uint64_t counter_id) const;
  // Appends to `out` this node's own slots from `cursor` on: up to `max_updates` of them, and
  // at most a few times that many slots of all origins walked (an owner holds many origins'
  // slots per key). Returns whether the sweep completed.
  bool collect_own(WallTime wall, SweepCursor& cursor, std::vector<SlotUpdate>& out,
                   std::size_t max_updates);
  // A count of `counter_id` changed here: if this node is one of its owners, the nodes that count
  // it hear the new totals at the next forward (within owner_forward_delay_ms()).
  void note_forward(MonoTime now, std::uint64_t counter_id, std::uint64_t window_ms);
  std::int64_t owner_forward_delay_ms() const;
  // Tells each node that counts a key noted for forwarding what the other origins counted there.
  void forward_round(MonoTime now, WallTime wall);
  // What all origins but `recipient` (an origin index; none: all of them) counted of `key` in
  // its windows still read, from its `slots`, appended to `out` as totals records. A window
  // with nothing to tell is left out, unless `zero_too` (an answer to a request: the current
  // window is then said even if it is 0).
  void append_totals(std::uint64_t counter_id, std::uint64_t window_ms,
                     const std::vector<OriginCounts>& slots, std::optional<std::uint32_t> recipient,
                     std::uint64_t now_window, bool zero_too, std::vector<WireUpdate>& out) const;
  // A totals message: the sender's sum of the origins other than us, kept as the owners' total.
  void merge_totals(WallTime wall, const ClusterMessage& message);
  // Sends the requests for owners' totals that checks left (totals_requests_), each to the
  // key's owners.
  void totals_request_round(MonoTime now, WallTime wall);
  // A delta of requests for totals from `peer`: answers those of the keys this node owns.
  void answer_totals(MonoTime now, WallTime wall, Peer& peer, const ClusterMessage& message);
  // Whether the member `node_id` is among `counter_id`'s owners (anti-entropy in owners mode
  // sends a peer only the keys it owns: non-owners hold no per-origin counts).
  bool is_owner(std::string_view node_id, std::uint64_t counter_id) const;
  // A full sync to `peer`, in owners mode: for the keys of scratch_ we own and it does not, what
  // all origins but it counted (a totals message).
  void send_totals_of(Peer& peer, MonoTime now, WallTime wall);
  // Sends the override table where it is owed: see the class comment.
  void override_round(MonoTime now, WallTime wall);
  void heartbeat_round(MonoTime now, WallTime wall);
  void repair_round(MonoTime now, WallTime wall);
  // The next slice of `peer`'s sweep (its full sync, when one is pending), at most about
  // `max_updates` (a key's slots are not split), sent as a repair. Returns the slots collected.
  // `store_empty`: the store holds no key (CounterStore::empty), so the sweep ends at once,
  // without walking the tables.
  std::size_t repair_to(Peer& peer, MonoTime now, WallTime wall, std::size_t max_updates,
                        bool store_empty = false);
  void update_states(MonoTime now);
  void merge_updates(MonoTime now, WallTime wall, const ClusterMessage& message);
  // Merges what `message` carries: the counts of a delta or repair, the records of overrides
  // (dropped with the feature off); other types carry neither. The merge alone: the statistics
  // of messages received and the sync state are the caller's.
  void merge_content(MonoTime now, WallTime wall, const ClusterMessage& message);
  void learn_members(MonoTime now, const ClusterMessage& message);
  // Sends the requests for rights that checks left in the ledger, each to the live peer
  // ask_whom picks (replicator_rights.cpp).
  void rights_round(MonoTime now, WallTime wall);
  // Of the live peers (`live`: indices into peers_), the one a request for `want` goes to.
  std::size_t ask_whom(const RightsWant& want, std::span<const std::size_t> live);
  // `peer`'s heartbeat named the members `digest` (0: none): once every other member named
  // ours, this node takes its shares (RightsLedger::await_members).
  void note_members(WallTime wall, Peer& peer, std::uint64_t digest);
  // A rights message from `peer`: merges its grants, answers its requests.
  void on_rights(MonoTime now, WallTime wall, Peer& peer, const ClusterMessage& message);
  // What this node grants `recipient` (an origin index) for `ask`, deducted from its own rights
  // first; returns the total granted to it there.
  std::uint64_t grant(WallTime wall, std::uint32_t recipient, const RightsRecord& ask);

  ReplicationConfig config_;
  CounterStore& store_;
  OriginTable& origins_;

  PeerTable peers_;
  std::mt19937_64 rng_;
  std::vector<Outgoing> outgoing_;
  std::vector<SlotUpdate> scratch_;
  std::vector<SlotUpdate> last_round_;  // sent in the previous gossip round, for the resend
  MonoTime started_at_;
  MonoTime next_gossip_;
  MonoTime next_heartbeat_;
  MonoTime next_repair_;
  bool started_ = false;
  bool synced_since_start_ = false;  // a peer completed a full sync to us
  std::size_t repair_turn_;  // where the next repair round starts; an offset per node at first
  std::size_t member_turn_ = 0;
  OverrideTable* overrides_ = nullptr;
  RightsLedger* rights_ = nullptr;
  TotalsRequests* totals_requests_ = nullptr;
  std::optional<std::uint64_t> overrides_version_sent_;  // none: never sent
  bool overrides_resend_ = false;                        // the last round sent a change
  MonoTime next_override_sync_;
  // Owner dissemination: the mode this round, the ring of live members, each member's address
  // (by the ring's member index; empty for this node), this node's index in the ring, and the
  // keys to forward at forward_at_.
  bool owners_mode_ = false;
  bool owners_sync_seen_ = false;  // a full sync to us came from a sender in owners mode
  // The members changed (or owners mode began): this node's own counts of the windows in use go
  // to the keys' owners again, a slice each gossip round, so that a key's new owners hold what
  // its old ones did (a key at its limit sends nothing more on its own).
  // A change during a resend asks for one more pass once this one completes (restarting at
  // each change, a member that flaps would keep the sweep from reaching the end of a store).
  // A pass resends only the keys whose owners differ from those of the ring before the change
  // (resend_since_: about 2/N of them when one member joins or leaves), or every key when
  // owners mode began or the members changed again during the pass.
  bool owners_resend_ = false;
  bool owners_resend_again_ = false;
  bool owners_resend_all_ = false;
  SweepCursor owners_resend_cursor_;
  KeyOwners resend_since_;
  KeyOwners owners_;
  std::vector<std::string> member_addresses_;
  std::uint32_t self_member_ = 0;
  struct ForwardKey {
    std::uint64_t counter_id = 0;
    std::uint64_t window_ms = 0;
  };
  std::vector<ForwardKey> forward_keys_;
  std::unordered_map<std::uint64_t, std::size_t> forward_index_;  // counter id -> forward_keys_
  bool forward_due_ = false;
  MonoTime forward_at_;
  // The relay budget: datagrams forwarded in the second that began at relay_second_.
  MonoTime relay_second_;
  std::size_t relayed_this_second_ = 0;
  ReplicationStats stats_;
};

}  // namespace drl::core
