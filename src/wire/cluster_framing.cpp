#include "wire/cluster_framing.hpp"

#include <sodium.h>
#include <xxhash.h>

#include <cstring>

namespace drl::wire {
namespace {

constexpr char kMagic[3] = {'D', 'R', 'L'};
constexpr std::size_t kTagOffset = 6;
constexpr std::size_t kSequenceOffset = 10;
constexpr std::uint8_t kFlagMac = 0x01;

}  // namespace

bool frame_macs_available() {
  return sodium_init() >= 0;
}

std::uint32_t destination_tag(std::string_view address) {
  return static_cast<std::uint32_t>(XXH3_64bits(address.data(), address.size()));
}

std::string seal_frame(std::string_view body, std::uint64_t sequence, std::uint32_t destination,
                       const ClusterKey* key) {
  std::string out;
  const std::size_t tag_bytes = key != nullptr ? frame_mac_bytes : frame_checksum_bytes;
  out.reserve(frame_header_bytes + body.size() + tag_bytes);
  out.append(kMagic, 3);
  out.push_back(static_cast<char>(cluster_protocol_version));
  out.push_back(static_cast<char>(key != nullptr ? kFlagMac : 0));
  out.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((destination >> shift) & 0xff));
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((sequence >> shift) & 0xff));
  }
  out.append(body);
  unsigned char tag[frame_mac_bytes];
  if (key != nullptr) {
    crypto_generichash(tag, frame_mac_bytes, reinterpret_cast<const unsigned char*>(out.data()),
                       out.size(), key->data(), cluster_key_bytes);
  } else {
    const std::uint64_t sum = XXH3_64bits(out.data(), out.size());
    for (std::size_t i = 0; i < frame_checksum_bytes; ++i) {
      tag[i] = static_cast<unsigned char>((sum >> (56 - 8 * i)) & 0xff);
    }
  }
  out.append(reinterpret_cast<const char*>(tag), tag_bytes);
  return out;
}

bool open_frame(std::string_view datagram, std::span<const ClusterKey> keys, OpenedFrame& out,
                DropReason& reason) {
  if (datagram.size() < frame_header_bytes + frame_checksum_bytes) {
    reason = DropReason::truncated;
    return false;
  }
  if (std::memcmp(datagram.data(), kMagic, 3) != 0) {
    reason = DropReason::bad_magic;
    return false;
  }
  if (static_cast<std::uint8_t>(datagram[3]) != cluster_protocol_version) {
    reason = DropReason::unsupported_version;
    return false;
  }
  const bool has_mac = (static_cast<std::uint8_t>(datagram[4]) & kFlagMac) != 0;
  if (has_mac != !keys.empty()) {
    reason = DropReason::unauthenticated;
    return false;
  }
  const std::size_t tag_bytes = has_mac ? frame_mac_bytes : frame_checksum_bytes;
  if (datagram.size() < frame_header_bytes + tag_bytes + 1) {
    reason = DropReason::truncated;
    return false;
  }
  const std::size_t signed_bytes = datagram.size() - tag_bytes;
  const auto* data = reinterpret_cast<const unsigned char*>(datagram.data());
  if (has_mac) {
    bool verified = false;
    for (const ClusterKey& key : keys) {
      unsigned char expected[frame_mac_bytes];
      crypto_generichash(expected, frame_mac_bytes, data, signed_bytes, key.data(), key.size());
      if (sodium_memcmp(expected, data + signed_bytes, frame_mac_bytes) == 0) verified = true;
    }
    if (!verified) {
      reason = DropReason::bad_mac;
      return false;
    }
  } else {
    const std::uint64_t sum = XXH3_64bits(data, signed_bytes);
    for (std::size_t i = 0; i < frame_checksum_bytes; ++i) {
      if (data[signed_bytes + i] != static_cast<unsigned char>((sum >> (56 - 8 * i)) & 0xff)) {
        reason = DropReason::bad_checksum;
        return false;
      }
    }
  }
  out.destination_tag = 0;
  for (std::size_t i = kTagOffset; i < kSequenceOffset; ++i) {
    out.destination_tag = (out.destination_tag << 8) | data[i];
  }
  out.sequence = 0;
  for (std::size_t i = kSequenceOffset; i < frame_header_bytes; ++i) {
    out.sequence = (out.sequence << 8) | data[i];
  }
  out.body = datagram.substr(frame_header_bytes, signed_bytes - frame_header_bytes);
  return true;
}

bool parse_cluster_key(std::string_view contents, ClusterKey& key) {
  if (contents.size() == cluster_key_bytes) {
    std::memcpy(key.data(), contents.data(), cluster_key_bytes);
    return true;
  }
  std::string hex;
  for (char c : contents) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    hex.push_back(c);
  }
  if (hex.size() != 2 * cluster_key_bytes) return false;
  std::size_t written = 0;
  return sodium_hex2bin(key.data(), key.size(), hex.data(), hex.size(), nullptr, &written,
                        nullptr) == 0 &&
         written == cluster_key_bytes;
}

}  // namespace drl::wire
