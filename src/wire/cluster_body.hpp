// Cluster message bodies, protocol version 1 (internal to ClusterCodec): a msgpack map from
// append-only field numbers to the message's fields. The writers pack what they are given, in
// the order given; which records go into which body is ClusterCodec's choice (it plans with
// cluster_body_size.hpp). The reader checks every bound and never throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "core/cluster_message.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {

// The header fields of `message` and its first `members` member records (no members field if
// zero): a heartbeat, an ack, or the body that closes a sync.
std::string members_body(const core::ClusterMessage& message, std::size_t members);

// The header fields of `message` with `flags` for its flags, the origins of `refs` (message
// origin -> the reference the body's updates use, 0..n-1) and `updates`, grouped by window as
// they come (each run of one window is one group).
std::string updates_body(const core::ClusterMessage& message, std::uint8_t flags,
                         const std::map<std::uint32_t, std::uint32_t>& refs,
                         std::span<const core::WireUpdate* const> updates);

// The header fields of a relay message, its destination and its payload.
std::string relay_body(const core::ClusterMessage& message);

// A rights message's one body (its records fit the smallest datagram).
std::string rights_body(const core::ClusterMessage& message);

// The header fields of an overrides message and `records`.
std::string overrides_body(const core::ClusterMessage& message,
                           std::span<const core::OverrideRecord* const> records);

// Whether a receiver accepts the record: the checks decode_body makes. A record outside them
// is never sent (a receiver would drop the whole datagram, and every other record in it).
bool override_sendable(const core::OverrideRecord& record);

// One override record as the overrides message carries it: an array of 13 fields, or 16 for a
// key record (protocol.md). The state file stores the override table this way too.
void pack_override_record(StringPacker& pk, const core::OverrideRecord& record);
// The largest encoding of a record within the wire's bounds.
inline constexpr std::size_t override_record_bytes_max = 2048;
// Reads one msgpack array of such records from the start of `bytes`: at most `records_max`
// records, each within the bounds decode_body checks. Sets `consumed` to the bytes it read.
// False if the bytes are not such an array (or hold more records).
bool decode_override_records(std::string_view bytes, std::size_t records_max,
                             std::vector<core::OverrideRecord>& out, std::size_t& consumed);

// Decodes a body into `out`. False if it is malformed (not a map, a field of the wrong type or
// outside its bound, no type or sender); `out` is then unspecified.
bool decode_body(std::string_view body, core::ClusterMessage& out);

}  // namespace drl::wire
