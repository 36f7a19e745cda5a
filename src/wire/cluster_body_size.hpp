// Encoded sizes of the parts of a cluster message body, as msgpack-c packs them (at most;
// headers assumed at their largest): what ClusterCodec plans with when it splits a message over
// datagrams, before anything is packed. Internal to ClusterCodec; they mirror what
// cluster_body.cpp writes, so a change to one is a change to the other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/cluster_message.hpp"

namespace drl::wire {

inline std::size_t uint_bytes(std::uint64_t v) {
  if (v < 128) return 1;
  if (v < 256) return 2;
  if (v < 65536) return 3;
  if (v <= 0xffffffffULL) return 5;
  return 9;
}
inline std::size_t int_bytes(std::int64_t v) {
  return v >= 0 ? uint_bytes(static_cast<std::uint64_t>(v)) : 9;
}
inline std::size_t str_bytes(std::string_view s) {
  return s.size() + (s.size() < 32 ? 1 : s.size() < 256 ? 2 : s.size() < 65536 ? 3 : 5);
}

// array16/map16: bodies stay below 65536 items.
inline constexpr std::size_t container_header_bytes_max = 3;
// A field's key and the header of its array (members, origins, groups, overrides).
inline constexpr std::size_t list_field_bytes_max = 1 + container_header_bytes_max;

// The map header and the fields every body carries (type, sender, ..., token, flags).
std::size_t header_fields_bytes(const core::ClusterMessage& message);

// What a relay message's body adds to `payload_bytes`: the header fields, the destination, and
// the payload's field key and bin header.
std::size_t relay_body_overhead_bytes(const core::ClusterMessage& message);

// One record of a body's origins, members or overrides.
std::size_t origin_bytes(const core::Origin& origin);
std::size_t member_bytes(const core::MemberRecord& member);
std::size_t override_bytes(const core::OverrideRecord& record);
// What a key-scoped record adds to override_bytes: its key, its flag and its reset marks.
std::size_t key_record_extra_bytes(const core::OverrideRecord& record);

// A group of updates to one window: its array header, the window, and its list's header.
inline std::size_t group_bytes(const core::WireUpdate& update) {
  return 1 + uint_bytes(update.window_ms) + uint_bytes(update.window_id) +
         container_header_bytes_max;
}
// An update in its group, its origin written as the body's origin reference `ref`.
inline std::size_t update_bytes(const core::WireUpdate& update, std::uint32_t ref) {
  return uint_bytes(update.counter_id) + uint_bytes(ref) + uint_bytes(update.count);
}

}  // namespace drl::wire
