#include "wire/cluster_codec.hpp"

#include <sodium.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <msgpack.hpp>

#include "core/bounds.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {
namespace {

constexpr char kMagic[3] = {'D', 'R', 'L'};
// magic 3, version 1, flags 1, reserved 1, destination tag 4, sequence 8
constexpr std::size_t kHeaderBytes = 18;
constexpr std::size_t kTagOffset = 6;
constexpr std::size_t kSequenceOffset = 10;
constexpr std::size_t kChecksumBytes = 8;
constexpr std::size_t kMacBytes = 16;
constexpr std::uint8_t kFlagMac = 0x01;

// Body map keys; append-only.
enum Field : std::uint8_t {
  kType = 0,
  kSenderId = 1,
  kIncarnation = 2,
  kSenderAddress = 4,
  kSentWall = 5,
  kToken = 6,
  kMembers = 7,
  kOrigins = 8,
  kGroups = 9,
  kFlags = 10,
  kOverrides = 11,
};

constexpr std::size_t kNodeIdBytesMax = bounds::node_id_bytes_max;
constexpr std::size_t kAddressBytesMax = bounds::peer_address_bytes_max;
// Override records: the scope's names as the config bounds them, the reason as the override
// table bounds it. A record outside these bounds is never sent (a receiver would drop the whole
// datagram, and every other record in it).
constexpr std::size_t kReasonBytesMax = 256;
constexpr std::size_t kOverrideFields = 13;
static_assert(kReasonBytesMax >= core::OverrideLimits{}.reason_bytes_max,
              "every reason the override table accepts must travel");
// The longest string the decoder lets through; each field then has its own bound.
constexpr std::size_t kStringBytesMax =
    std::max({kAddressBytesMax, kReasonBytesMax, bounds::endpoint_name_bytes_max});

using Packer = StringPacker;

// Encoded sizes, as msgpack-c packs them (at most; headers assumed at their largest).
std::size_t uint_bytes(std::uint64_t v) {
  if (v < 128) return 1;
  if (v < 256) return 2;
  if (v < 65536) return 3;
  if (v <= 0xffffffffULL) return 5;
  return 9;
}
std::size_t int_bytes(std::int64_t v) {
  return v >= 0 ? uint_bytes(static_cast<std::uint64_t>(v)) : 9;
}
std::size_t str_bytes(std::string_view s) {
  return s.size() + (s.size() < 32 ? 1 : s.size() < 256 ? 2 : s.size() < 65536 ? 3 : 5);
}
constexpr std::size_t kContainerHeaderMax = 3;  // array16/map16: bodies stay below 65536 items

// Nodes from before windows longer than 31 days drop a datagram that carries one as malformed,
// with everything else in it: such windows travel in datagrams of their own, so that those
// nodes still get every other count and override.
bool long_window(std::uint64_t window_ms) {
  return window_ms > bounds::window_ms_any_max;
}

std::size_t origin_bytes(const core::Origin& origin) {
  return 1 + str_bytes(origin.node_id) + uint_bytes(origin.incarnation);
}
std::size_t member_bytes(const core::MemberRecord& member) {
  return 1 + str_bytes(member.node_id) + uint_bytes(member.incarnation) + str_bytes(member.address);
}

std::size_t override_bytes(const core::OverrideRecord& r) {
  return 1 + str_bytes(r.scope.policy) + str_bytes(r.scope.tier) + str_bytes(r.scope.endpoint) +
         uint_bytes(r.scope.window_ms) + uint_bytes(static_cast<std::uint8_t>(r.kind)) +
         uint_bytes(r.value) + int_bytes(r.set_wall_ms) + int_bytes(r.expires_wall_ms) +
         int_bytes(r.retain_until_wall_ms) + str_bytes(r.reason) + int_bytes(r.stamp.wall_ms) +
         uint_bytes(r.stamp.logical) + str_bytes(r.stamp.node_id);
}

// Whether a receiver accepts the record: the same checks as open() makes.
bool override_sendable(const core::OverrideRecord& r) {
  return !r.scope.policy.empty() && r.scope.policy.size() <= bounds::policy_name_bytes_max &&
         r.scope.tier.size() <= bounds::tier_name_bytes_max &&
         r.scope.endpoint.size() <= bounds::endpoint_name_bytes_max &&
         (r.scope.window_ms == 0 || bounds::window_ms_valid(r.scope.window_ms)) &&
         static_cast<std::uint8_t>(r.kind) <=
             static_cast<std::uint8_t>(core::OverrideKind::factor) &&
         r.retain_until_wall_ms >= r.expires_wall_ms && r.reason.size() <= kReasonBytesMax &&
         !r.stamp.node_id.empty() && r.stamp.node_id.size() <= kNodeIdBytesMax;
}

std::size_t header_fields_bytes(const core::ClusterMessage& m) {
  return kContainerHeaderMax + 2 * 1 /* type */ + 2 * 1 /* flags */ + 1 + str_bytes(m.sender_id) +
         1 + uint_bytes(m.sender_incarnation) + 1 + str_bytes(m.sender_address) + 1 +
         int_bytes(m.sent_wall_ms) + 1 + uint_bytes(m.token);
}

void pack_header_fields(Packer& pk, const core::ClusterMessage& m, std::uint32_t extra_fields,
                        std::uint8_t flags) {
  pk.pack_map(6 + (flags != 0 ? 1 : 0) + extra_fields);
  pk.pack_uint8(kType);
  pk.pack_uint8(static_cast<std::uint8_t>(m.type));
  pk.pack_uint8(kSenderId);
  pack_str(pk, m.sender_id);
  pk.pack_uint8(kIncarnation);
  pk.pack_uint64(m.sender_incarnation);
  pk.pack_uint8(kSenderAddress);
  pack_str(pk, m.sender_address);
  pk.pack_uint8(kSentWall);
  pk.pack_int64(m.sent_wall_ms);
  pk.pack_uint8(kToken);
  pk.pack_uint64(m.token);
  if (flags != 0) {
    pk.pack_uint8(kFlags);
    pk.pack_uint8(flags);
  }
}

void pack_override(Packer& pk, const core::OverrideRecord& r) {
  pk.pack_array(static_cast<std::uint32_t>(kOverrideFields));
  pack_str(pk, r.scope.policy);
  pack_str(pk, r.scope.tier);
  pack_str(pk, r.scope.endpoint);
  pk.pack_uint64(r.scope.window_ms);
  pk.pack_uint8(static_cast<std::uint8_t>(r.kind));
  pk.pack_uint64(r.value);
  pk.pack_int64(r.set_wall_ms);
  pk.pack_int64(r.expires_wall_ms);
  pk.pack_int64(r.retain_until_wall_ms);
  pack_str(pk, r.reason);
  pk.pack_int64(r.stamp.wall_ms);
  pk.pack_uint32(r.stamp.logical);
  pack_str(pk, r.stamp.node_id);
}

// An overrides message: as many records per body as fit, in order, those with windows longer
// than 31 days last and in bodies of their own (long_window). A record that does not fit an
// empty body on its own (possible only below datagram_bytes 1046), or that a receiver would
// refuse, is left out and counted in `left_out`. Always at least one body, so that an empty list
// still says "I am alive".
std::vector<std::string> override_bodies(const core::ClusterMessage& m, std::size_t budget,
                                         std::size_t* left_out) {
  const std::size_t base = header_fields_bytes(m) + 1 + kContainerHeaderMax;
  std::vector<const core::OverrideRecord*> sendable;
  sendable.reserve(m.overrides.size());
  std::size_t refused = 0;
  for (const core::OverrideRecord& record : m.overrides) {
    if (override_sendable(record) && base + override_bytes(record) <= budget) {
      sendable.push_back(&record);
    } else {
      ++refused;
    }
  }
  if (left_out != nullptr) *left_out += refused;
  std::stable_partition(sendable.begin(), sendable.end(), [](const core::OverrideRecord* r) {
    return !long_window(r->scope.window_ms);
  });

  std::vector<std::string> bodies;
  std::size_t next = 0;
  do {
    const std::size_t first = next;
    std::size_t size = base;
    while (next < sendable.size() && size + override_bytes(*sendable[next]) <= budget &&
           (next == first || long_window(sendable[next]->scope.window_ms) ==
                                 long_window(sendable[first]->scope.window_ms))) {
      size += override_bytes(*sendable[next]);
      ++next;
    }
    std::string body;
    StringSink sink{body};
    Packer pk(sink);
    pack_header_fields(pk, m, 1, m.flags);
    pk.pack_uint8(kOverrides);
    pk.pack_array(static_cast<std::uint32_t>(next - first));
    for (std::size_t i = first; i < next; ++i) pack_override(pk, *sendable[i]);
    bodies.push_back(std::move(body));
  } while (next < sendable.size());
  return bodies;
}

struct Invalid {};

std::string_view text_of(const msgpack::object& o, std::size_t max_bytes) {
  if (o.type != msgpack::type::STR || o.via.str.size > max_bytes) throw Invalid{};
  return {o.via.str.ptr, o.via.str.size};
}

std::uint64_t uint_of(const msgpack::object& o) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) throw Invalid{};
  return o.via.u64;
}

std::int64_t int_of(const msgpack::object& o) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<std::uint64_t>(INT64_MAX)) throw Invalid{};
    return static_cast<std::int64_t>(o.via.u64);
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  throw Invalid{};
}

const msgpack::object_array& array_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) throw Invalid{};
  return o.via.array;
}

bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

core::OverrideRecord override_of(const msgpack::object& o) {
  const msgpack::object_array& f = array_of(o);
  if (f.size != kOverrideFields) throw Invalid{};
  core::OverrideRecord r;
  r.scope.policy = text_of(f.ptr[0], bounds::policy_name_bytes_max);
  r.scope.tier = text_of(f.ptr[1], bounds::tier_name_bytes_max);
  r.scope.endpoint = text_of(f.ptr[2], bounds::endpoint_name_bytes_max);
  const std::uint64_t window_ms = uint_of(f.ptr[3]);
  const std::uint64_t kind = uint_of(f.ptr[4]);
  if (r.scope.policy.empty() || (window_ms != 0 && !bounds::window_ms_valid(window_ms)) ||
      kind > static_cast<std::uint8_t>(core::OverrideKind::factor)) {
    throw Invalid{};
  }
  r.scope.window_ms = window_ms;
  r.kind = static_cast<core::OverrideKind>(kind);
  r.value = uint_of(f.ptr[5]);
  r.set_wall_ms = int_of(f.ptr[6]);
  r.expires_wall_ms = int_of(f.ptr[7]);
  r.retain_until_wall_ms = int_of(f.ptr[8]);
  if (r.retain_until_wall_ms < r.expires_wall_ms) throw Invalid{};
  r.reason = text_of(f.ptr[9], kReasonBytesMax);
  r.stamp.wall_ms = int_of(f.ptr[10]);
  const std::uint64_t logical = uint_of(f.ptr[11]);
  if (logical > 0xffffffffULL) throw Invalid{};
  r.stamp.logical = static_cast<std::uint32_t>(logical);
  r.stamp.node_id = text_of(f.ptr[12], kNodeIdBytesMax);
  if (r.stamp.node_id.empty()) throw Invalid{};
  return r;
}

}  // namespace

std::string_view drop_reason_name(DropReason reason) {
  switch (reason) {
    case DropReason::truncated:
      return "truncated";
    case DropReason::bad_magic:
      return "bad_magic";
    case DropReason::unsupported_version:
      return "unsupported_version";
    case DropReason::bad_checksum:
      return "bad_checksum";
    case DropReason::unauthenticated:
      return "unauthenticated";
    case DropReason::bad_mac:
      return "bad_mac";
    case DropReason::malformed:
      return "malformed";
    case DropReason::replayed:
      return "replayed";
    case DropReason::count_:
      break;
  }
  return "unknown";
}

ClusterCodec::ClusterCodec(CodecOptions options) : options_(std::move(options)) {
  options_.datagram_bytes_max = std::clamp(options_.datagram_bytes_max, bounds::datagram_bytes_min,
                                           bounds::datagram_bytes_max);
  // Idempotent and thread-safe; needed before any libsodium call.
  if (sodium_init() < 0) options_.keys.clear();
}

std::size_t ClusterCodec::body_bytes_max() const {
  return options_.datagram_bytes_max - kHeaderBytes -
         (authenticated() ? kMacBytes : kChecksumBytes);
}

std::vector<std::string> ClusterCodec::encode_bodies(const core::ClusterMessage& message,
                                                     std::size_t* overrides_left_out) const {
  std::vector<std::string> bodies;
  const std::size_t budget = body_bytes_max();
  const std::size_t base = header_fields_bytes(message);
  if (message.type == core::MessageType::overrides) {
    return override_bodies(message, budget, overrides_left_out);
  }

  if (!message.updates || message.updates->empty()) {
    // Heartbeats and acks: one body, with as many members as fit.
    std::size_t size = base + 1 + kContainerHeaderMax;
    std::size_t members = 0;
    while (members < message.members.size() &&
           size + member_bytes(message.members[members]) <= budget) {
      size += member_bytes(message.members[members]);
      ++members;
    }
    std::string body;
    StringSink sink{body};
    Packer pk(sink);
    pack_header_fields(pk, message, members > 0 ? 1 : 0, message.flags);
    if (members > 0) {
      pk.pack_uint8(kMembers);
      pk.pack_array(static_cast<std::uint32_t>(members));
      for (std::size_t i = 0; i < members; ++i) {
        const core::MemberRecord& member = message.members[i];
        pk.pack_array(3);
        pack_str(pk, member.node_id);
        pk.pack_uint64(member.incarnation);
        pack_str(pk, member.address);
      }
    }
    bodies.push_back(std::move(body));
    return bodies;
  }

  // Updates grouped by window, so that a window is written once per datagram. Windows longer
  // than 31 days sort last, and start a datagram of their own (long_window).
  std::vector<const core::WireUpdate*> order;
  order.reserve(message.updates->size());
  for (const core::WireUpdate& update : *message.updates) {
    if (update.origin < message.origins.size()) order.push_back(&update);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::tie(a->window_ms, a->window_id) < std::tie(b->window_ms, b->window_id);
  });

  std::size_t next = 0;
  while (next < order.size()) {
    // Plan one body: which updates, which origins.
    std::map<std::uint32_t, std::uint32_t> refs;  // message origin -> body reference
    std::size_t size = base + 2 * (1 + kContainerHeaderMax);
    const std::size_t first = next;
    const core::WireUpdate* group = nullptr;
    while (next < order.size()) {
      const core::WireUpdate& u = *order[next];
      std::size_t add = 0;
      const auto ref = refs.find(u.origin);
      const std::uint32_t ref_index =
          ref == refs.end() ? static_cast<std::uint32_t>(refs.size()) : ref->second;
      if (ref == refs.end()) add += origin_bytes(message.origins[u.origin]);
      if (group == nullptr || group->window_ms != u.window_ms || group->window_id != u.window_id) {
        add += 1 + uint_bytes(u.window_ms) + uint_bytes(u.window_id) + kContainerHeaderMax;
      }
      add += uint_bytes(u.counter_id) + uint_bytes(ref_index) + uint_bytes(u.count);
      if (next > first && (size + add > budget ||
                           long_window(u.window_ms) != long_window(order[first]->window_ms))) {
        break;
      }
      size += add;
      if (ref == refs.end()) refs.emplace(u.origin, ref_index);
      group = &u;
      ++next;
    }

    std::string body;
    StringSink sink{body};
    Packer pk(sink);
    // A split message completes a sync only with its last datagram, which an older node must
    // read too: after a datagram of long windows, a datagram of its own (below).
    const bool last = next == order.size() && !long_window(order[first]->window_ms);
    pack_header_fields(
        pk, message, 2,
        last ? message.flags : static_cast<std::uint8_t>(message.flags & ~core::kFlagSyncComplete));
    pk.pack_uint8(kOrigins);
    std::vector<std::uint32_t> by_ref(refs.size());
    for (const auto& [origin, ref] : refs) by_ref[ref] = origin;
    pk.pack_array(static_cast<std::uint32_t>(by_ref.size()));
    for (std::uint32_t origin : by_ref) {
      pk.pack_array(2);
      pack_str(pk, message.origins[origin].node_id);
      pk.pack_uint64(message.origins[origin].incarnation);
    }
    pk.pack_uint8(kGroups);
    std::size_t groups = 0;
    for (std::size_t i = first; i < next; ++i) {
      if (i == first || order[i]->window_ms != order[i - 1]->window_ms ||
          order[i]->window_id != order[i - 1]->window_id) {
        ++groups;
      }
    }
    pk.pack_array(static_cast<std::uint32_t>(groups));
    for (std::size_t start = first; start < next;) {
      std::size_t end = start;
      while (end < next && order[end]->window_ms == order[start]->window_ms &&
             order[end]->window_id == order[start]->window_id) {
        ++end;
      }
      pk.pack_array(3);
      pk.pack_uint64(order[start]->window_ms);
      pk.pack_uint64(order[start]->window_id);
      pk.pack_array(static_cast<std::uint32_t>(3 * (end - start)));
      for (std::size_t i = start; i < end; ++i) {
        pk.pack_uint64(order[i]->counter_id);
        pk.pack_uint32(refs.at(order[i]->origin));
        pk.pack_uint32(order[i]->count);
      }
      start = end;
    }
    bodies.push_back(std::move(body));
  }
  if (!order.empty() && long_window(order.back()->window_ms) &&
      (message.flags & core::kFlagSyncComplete) != 0) {
    std::string body;
    StringSink sink{body};
    Packer pk(sink);
    pack_header_fields(pk, message, 0, message.flags);
    bodies.push_back(std::move(body));
  }
  return bodies;
}

std::uint32_t destination_tag(std::string_view address) {
  return static_cast<std::uint32_t>(XXH3_64bits(address.data(), address.size()));
}

std::string ClusterCodec::seal(std::string_view body, std::uint64_t sequence,
                               std::uint32_t destination) const {
  std::string out;
  const std::size_t tag_bytes = authenticated() ? kMacBytes : kChecksumBytes;
  out.reserve(kHeaderBytes + body.size() + tag_bytes);
  out.append(kMagic, 3);
  out.push_back(static_cast<char>(cluster_protocol_version));
  out.push_back(static_cast<char>(authenticated() ? kFlagMac : 0));
  out.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((destination >> shift) & 0xff));
  }
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((sequence >> shift) & 0xff));
  }
  out.append(body);
  unsigned char tag[kMacBytes];
  if (authenticated()) {
    crypto_generichash(tag, kMacBytes, reinterpret_cast<const unsigned char*>(out.data()),
                       out.size(), options_.keys.front().data(), cluster_key_bytes);
  } else {
    const std::uint64_t sum = XXH3_64bits(out.data(), out.size());
    for (std::size_t i = 0; i < kChecksumBytes; ++i) {
      tag[i] = static_cast<unsigned char>((sum >> (56 - 8 * i)) & 0xff);
    }
  }
  out.append(reinterpret_cast<const char*>(tag), tag_bytes);
  return out;
}

bool ClusterCodec::open(std::string_view datagram, DecodedDatagram& out, DropReason& reason) const {
  if (datagram.size() < kHeaderBytes + kChecksumBytes) {
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
  if (has_mac != authenticated()) {
    reason = DropReason::unauthenticated;
    return false;
  }
  const std::size_t tag_bytes = has_mac ? kMacBytes : kChecksumBytes;
  if (datagram.size() < kHeaderBytes + tag_bytes + 1) {
    reason = DropReason::truncated;
    return false;
  }
  const std::size_t signed_bytes = datagram.size() - tag_bytes;
  const auto* data = reinterpret_cast<const unsigned char*>(datagram.data());
  if (has_mac) {
    bool verified = false;
    for (const ClusterKey& key : options_.keys) {
      unsigned char expected[kMacBytes];
      crypto_generichash(expected, kMacBytes, data, signed_bytes, key.data(), key.size());
      if (sodium_memcmp(expected, data + signed_bytes, kMacBytes) == 0) verified = true;
    }
    if (!verified) {
      reason = DropReason::bad_mac;
      return false;
    }
  } else {
    const std::uint64_t sum = XXH3_64bits(data, signed_bytes);
    for (std::size_t i = 0; i < kChecksumBytes; ++i) {
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
  for (std::size_t i = kSequenceOffset; i < kHeaderBytes; ++i) {
    out.sequence = (out.sequence << 8) | data[i];
  }

  try {
    msgpack::zone zone;
    std::size_t offset = 0;
    bool referenced = false;
    const std::size_t body_bytes = signed_bytes - kHeaderBytes;
    const msgpack::object root = msgpack::unpack(
        zone, datagram.data() + kHeaderBytes, body_bytes, offset, referenced, reference_all,
        nullptr, msgpack::unpack_limit(body_bytes, 16, kStringBytesMax, 0, 0, 4));
    if (offset != body_bytes || root.type != msgpack::type::MAP) throw Invalid{};
    core::ClusterMessage& m = out.message;
    m = core::ClusterMessage{};
    bool has_type = false;
    bool has_sender = false;
    const msgpack::object* groups = nullptr;
    const msgpack::object* overrides = nullptr;
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
      const msgpack::object& key = root.via.map.ptr[i].key;
      const msgpack::object& value = root.via.map.ptr[i].val;
      if (key.type != msgpack::type::POSITIVE_INTEGER) throw Invalid{};
      switch (key.via.u64) {
        case kType: {
          const std::uint64_t type = uint_of(value);
          if (type < 1 || type > static_cast<std::uint8_t>(core::MessageType::overrides)) {
            throw Invalid{};
          }
          m.type = static_cast<core::MessageType>(type);
          has_type = true;
          break;
        }
        case kSenderId:
          m.sender_id = text_of(value, kNodeIdBytesMax);
          has_sender = !m.sender_id.empty();
          break;
        case kIncarnation:
          m.sender_incarnation = uint_of(value);
          break;
        case kSenderAddress:
          m.sender_address = text_of(value, kAddressBytesMax);
          break;
        case kSentWall:
          m.sent_wall_ms = int_of(value);
          break;
        case kToken:
          m.token = uint_of(value);
          break;
        case kMembers:
          for (std::uint32_t j = 0; j < array_of(value).size; ++j) {
            const msgpack::object_array& member = array_of(array_of(value).ptr[j]);
            if (member.size != 3) throw Invalid{};
            m.members.push_back(core::MemberRecord{
                std::string(text_of(member.ptr[0], kNodeIdBytesMax)), uint_of(member.ptr[1]),
                std::string(text_of(member.ptr[2], kAddressBytesMax))});
          }
          break;
        case kOrigins:
          for (std::uint32_t j = 0; j < array_of(value).size; ++j) {
            const msgpack::object_array& origin = array_of(array_of(value).ptr[j]);
            if (origin.size != 2) throw Invalid{};
            const std::string_view node = text_of(origin.ptr[0], kNodeIdBytesMax);
            if (node.empty()) throw Invalid{};
            m.origins.push_back(core::Origin{std::string(node), uint_of(origin.ptr[1])});
          }
          break;
        case kGroups:
          groups = &value;
          break;
        case kFlags:
          m.flags = static_cast<std::uint8_t>(uint_of(value) & 0xff);
          break;
        case kOverrides:
          overrides = &value;
          break;
        default:
          break;  // a field from a later version: ignored
      }
    }
    if (!has_type || !has_sender) throw Invalid{};
    if (groups != nullptr) {
      auto updates = std::make_shared<std::vector<core::WireUpdate>>();
      for (std::uint32_t g = 0; g < array_of(*groups).size; ++g) {
        const msgpack::object_array& group = array_of(array_of(*groups).ptr[g]);
        if (group.size != 3) throw Invalid{};
        const std::uint64_t window_ms = uint_of(group.ptr[0]);
        const std::uint64_t window_id = uint_of(group.ptr[1]);
        if (!bounds::window_ms_valid(window_ms)) throw Invalid{};
        const msgpack::object_array& flat = array_of(group.ptr[2]);
        if (flat.size % 3 != 0) throw Invalid{};
        for (std::uint32_t k = 0; k < flat.size; k += 3) {
          const std::uint64_t counter_id = uint_of(flat.ptr[k]);
          const std::uint64_t ref = uint_of(flat.ptr[k + 1]);
          const std::uint64_t count = uint_of(flat.ptr[k + 2]);
          if (counter_id == 0 || ref >= m.origins.size() || count > 0xffffffffULL) throw Invalid{};
          updates->push_back(core::WireUpdate{counter_id, window_ms, window_id,
                                              static_cast<std::uint32_t>(ref),
                                              static_cast<std::uint32_t>(count)});
        }
      }
      m.updates = std::move(updates);
    }
    // Override records belong to the overrides message only; elsewhere the key is ignored like
    // an unknown one.
    if (overrides != nullptr && m.type == core::MessageType::overrides) {
      const msgpack::object_array& records = array_of(*overrides);
      m.overrides.reserve(records.size);
      for (std::uint32_t r = 0; r < records.size; ++r) {
        m.overrides.push_back(override_of(records.ptr[r]));
      }
    }
    return true;
  } catch (const Invalid&) {
  } catch (const std::exception&) {
  }
  reason = DropReason::malformed;
  return false;
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
