// Cluster protocol version 1: ClusterMessage <-> UDP datagrams.
//
// A datagram: "DRL", version 1, flags, a reserved byte, a 4-byte destination tag (a hash of
// the address it was sent to), an 8-byte big-endian sequence number (per sender and
// destination, for replay detection), a msgpack body, then a tag over all of it: a 16-byte
// keyed BLAKE2b MAC when the cluster has a key (flags bit 0), else an 8-byte XXH3-64 checksum.
// Messages with long update or override lists are split over several datagrams of at most
// datagram_bytes_max bytes. Untrusted input: decoding never throws and never allocates more than
// the datagram's size allows.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "core/cluster_message.hpp"

namespace drl::wire {

inline constexpr std::uint8_t cluster_protocol_version = 1;
inline constexpr std::size_t cluster_key_bytes = 32;

using ClusterKey = std::array<unsigned char, cluster_key_bytes>;

// Why a datagram was dropped; append-only (names are metric labels).
enum class DropReason : std::uint8_t {
  truncated,            // shorter than header and tag
  bad_magic,            // not a drl datagram
  unsupported_version,  // a newer protocol version
  bad_checksum,         // corrupted on the way
  unauthenticated,      // no MAC where a key is configured, or a MAC where none is
  bad_mac,              // a MAC that no configured key produced: wrong key or forged
  malformed,            // the body is not a valid message
  replayed,             // a sequence number already seen, or an old incarnation
  count_,               // number of reasons
};
std::string_view drop_reason_name(DropReason reason);

struct CodecOptions {
  std::size_t datagram_bytes_max = bounds::datagram_bytes_default;
  // The first key signs; every key is accepted (two during a rotation). Empty: checksums only.
  std::vector<ClusterKey> keys;
};

struct DecodedDatagram {
  std::uint32_t destination_tag = 0;
  std::uint64_t sequence = 0;
  core::ClusterMessage message;
};

class ClusterCodec {
 public:
  explicit ClusterCodec(CodecOptions options);

  // The bodies for `message`, each small enough for one datagram. Updates are split across
  // bodies; each body carries the origins its updates use. Heartbeats carry as many member
  // records as fit. A relay is one body (its payload is one datagram). Override records are split
  // across bodies too; one that no body can hold, or that a receiver would refuse, is left out and
  // added to `*overrides_left_out` (if given). `reserve_bytes` (at most half a body) are left free
  // in each: room for a relay envelope.
  std::vector<std::string> encode_bodies(const core::ClusterMessage& message,
                                         std::size_t* overrides_left_out = nullptr,
                                         std::size_t reserve_bytes = 0) const;

  // What wrapping a datagram into the relay message `envelope` adds to it (its payload unset).
  std::size_t relay_overhead_bytes(const core::ClusterMessage& envelope) const;

  // A datagram from a body: header with the destination's tag and `sequence`, body, tag.
  std::string seal(std::string_view body, std::uint64_t sequence,
                   std::uint32_t destination_tag) const;

  // Verifies and decodes a datagram. On failure, `reason` says why.
  bool open(std::string_view datagram, DecodedDatagram& out, DropReason& reason) const;

  bool authenticated() const { return !options_.keys.empty(); }
  std::size_t datagram_bytes_max() const { return options_.datagram_bytes_max; }
  std::size_t body_bytes_max() const;

 private:
  CodecOptions options_;
};

// The tag of a destination address, as seal() writes it.
std::uint32_t destination_tag(std::string_view address);

// Reads a cluster key file: 32 raw bytes, or 64 hexadecimal characters (whitespace ignored).
bool parse_cluster_key(std::string_view contents, ClusterKey& key);

}  // namespace drl::wire
