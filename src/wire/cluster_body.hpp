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

// The header fields of an overrides message and `records`.
std::string overrides_body(const core::ClusterMessage& message,
                           std::span<const core::OverrideRecord* const> records);

// Whether a receiver accepts the record: the checks decode_body makes. A record outside them
// is never sent (a receiver would drop the whole datagram, and every other record in it).
bool override_sendable(const core::OverrideRecord& record);

// Decodes a body into `out`. False if it is malformed (not a map, a field of the wrong type or
// outside its bound, no type or sender); `out` is then unspecified.
bool decode_body(std::string_view body, core::ClusterMessage& out);

}  // namespace drl::wire
