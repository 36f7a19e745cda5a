// Cluster datagram framing, protocol version 1 (internal to ClusterCodec): the 18-byte header
// ("DRL", version, flags, reserved, destination tag, sequence) and the tag that closes a
// datagram, a 16-byte keyed BLAKE2b MAC when the cluster has a key, else an 8-byte XXH3-64
// checksum. What the body holds is cluster_body.hpp's business.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "wire/cluster_codec.hpp"

namespace drl::wire {

// magic 3, version 1, flags 1, reserved 1, destination tag 4, sequence 8
inline constexpr std::size_t frame_header_bytes = 18;
inline constexpr std::size_t frame_checksum_bytes = 8;
inline constexpr std::size_t frame_mac_bytes = 16;

// Prepares libsodium (idempotent and thread-safe; needed before any MAC is made or checked).
// False if it cannot be used.
bool frame_macs_available();

// A datagram: header with `destination_tag` and `sequence`, `body`, then the tag: a MAC with
// `key`, or a checksum if `key` is null.
std::string seal_frame(std::string_view body, std::uint64_t sequence, std::uint32_t destination_tag,
                       const ClusterKey* key);

// The header fields and the body of a datagram whose tag checked out.
struct OpenedFrame {
  std::uint32_t destination_tag = 0;
  std::uint64_t sequence = 0;
  std::string_view body;  // a view into the datagram; never empty
};

// Checks a datagram's header and tag: a MAC made with one of `keys`, or a checksum if `keys` is
// empty (a datagram with the other kind is unauthenticated). On failure, `reason` says why.
bool open_frame(std::string_view datagram, std::span<const ClusterKey> keys, OpenedFrame& out,
                DropReason& reason);

}  // namespace drl::wire
