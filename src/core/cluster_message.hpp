// The messages nodes exchange, as the replication logic sees them. The wire layer turns them
// into checksummed (or authenticated) datagrams of bounded size, splitting long update lists.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"

namespace drl::core {

// Append-only: values are on the wire.
enum class MessageType : std::uint8_t {
  heartbeat = 1,  // I am alive; here are members I know; echo this token
  ack = 2,        // your heartbeat's token, and my wall clock (round trip and clock offset)
  delta = 3,      // my counts that changed since my last round
  repair = 4,     // anti-entropy: counts of any origin, a slice of a full sweep
  overrides = 5,  // runtime overrides: the records of my override table, tombstones included
  // Please deliver `relay_payload`, a datagram of mine sealed for `relay_to`, to `relay_to`: a
  // peer that does not hear me, though it hears you and I hear it (a one-way cut).
  relay = 6,
  // I am stopping (a clean stop): count me out of the membership now, not after down_after.
  leave = 7,
  // Rights of hard limits (rights_ledger.hpp): what I ask you for, and what I have granted you
  // in all (for your incarnation `granted_to`).
  rights = 8,
  // Owner dissemination: for each (counter, window), what all origins other than you counted,
  // as I own it; for your incarnation origins[0] only (it leaves your own counts out).
  totals = 9,
};

// One (counter, window) of a rights message.
struct RightsRecord {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;
  std::uint64_t limit = 0;          // a request: the limit in force where rights are wanted
  std::uint64_t asked = 0;          // 0: no request
  std::uint64_t granted_total = 0;  // all the sender has granted the receiver here; 0: none
};

struct MemberRecord {
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::string address;  // "host:port" where it receives datagrams
};

// An update as sent: `origin` indexes ClusterMessage::origins.
struct WireUpdate {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;
  std::uint32_t origin = 0;
  std::uint32_t count = 0;
};

// Message flags; append-only.
inline constexpr std::uint8_t kFlagWantSync = 0x01;      // heartbeat: send me a full sync
inline constexpr std::uint8_t kFlagSyncComplete = 0x02;  // repair: the last slice of a full sync
// heartbeat: I read totals messages (owner dissemination). "auto" uses owners only once every
// live member says so: a node of an earlier version would miss the counts sent to owners.
inline constexpr std::uint8_t kFlagReadsTotals = 0x04;
// delta: sent to the keys' owners only (owner dissemination): a receiver that owns a key tells
// the nodes counting it, whatever its own mode. repair: a full sync of a sender in owners mode,
// which holds only the keys the receiver owns (and totals of the sender's): the receiver waits
// for every peer's.
inline constexpr std::uint8_t kFlagOwners = 0x08;
// delta (with kFlagOwners): its records, each of count 0, ask the receiver, an owner of their
// keys, for its totals now: the sender's first check of those keys waits for them
// (core/totals_requests.hpp). An earlier version merges the zeros, which change nothing.
inline constexpr std::uint8_t kFlagWantsTotals = 0x10;

struct ClusterMessage {
  MessageType type = MessageType::heartbeat;
  std::uint8_t flags = 0;
  std::string sender_id;
  std::uint64_t sender_incarnation = 0;
  std::string sender_address;         // as the sender advertises it; may be empty
  std::int64_t sent_wall_ms = 0;      // the sender's wall clock when it built the message
  std::uint64_t token = 0;            // heartbeat: to echo; ack: the echoed token
  std::vector<MemberRecord> members;  // heartbeat
  // heartbeat: the members the sender splits hard limits' rights among (RightsSplit's
  // members_digest); 0: not said.
  std::uint64_t members_digest = 0;
  std::vector<Origin> origins;                             // delta, repair, totals
  std::shared_ptr<const std::vector<WireUpdate>> updates;  // delta, repair, totals
  std::vector<OverrideRecord> overrides;                   // overrides
  std::string relay_to;                                    // relay: the final destination
  // relay: the datagram to deliver, as its sender sealed it (bytes the core does not read).
  std::shared_ptr<const std::string> relay_payload;
  // rights: at most bounds::rights_records_per_message_max records; grants count only for the
  // receiver's incarnation `granted_to`.
  std::vector<RightsRecord> rights;
  std::uint64_t granted_to = 0;
};

}  // namespace drl::core
