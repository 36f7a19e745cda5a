#include "wire/cluster_body.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <memory>
#include <msgpack.hpp>
#include <utility>
#include <vector>

#include "core/assert.hpp"
#include "core/bounds.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {
namespace {

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
  // Key-scoped override records (key overrides and key resets): a field of their own, which
  // nodes from before key overrides ignore, so that they still take the policy-scoped records.
  kKeyRecords = 12,
  // A relay message: the address to deliver to, and the datagram to deliver (msgpack bin).
  kRelayTo = 13,
  kRelayPayload = 14,
  // A rights message: its records, six numbers each, flat; the receiver's incarnation.
  kRights = 15,
  kGrantedTo = 16,
  // A heartbeat: the members its sender splits hard limits' rights among (a digest).
  kMembersDigest = 17,
};
constexpr std::size_t kRightsRecordFields = 6;

constexpr std::size_t kNodeIdBytesMax = bounds::node_id_bytes_max;
constexpr std::size_t kAddressBytesMax = bounds::peer_address_bytes_max;
// Override records: the scope's names as the config bounds them, the reason as the override
// table bounds it.
constexpr std::size_t kReasonBytesMax = 256;
constexpr std::size_t kOverrideFields = 13;
// A key record: the override fields, then the key, counts_reset, and the reset marks flat (five
// numbers each: counter id, window_ms, window id, current, previous).
constexpr std::size_t kKeyRecordFields = kOverrideFields + 3;
constexpr std::size_t kResetMarkFields = 5;
static_assert(kReasonBytesMax >= core::OverrideLimits{}.reason_bytes_max,
              "every reason the override table accepts must travel");
// The longest string the decoder lets through; each field then has its own bound.
constexpr std::size_t kStringBytesMax =
    std::max({kAddressBytesMax, kReasonBytesMax, bounds::endpoint_name_bytes_max});

using Packer = StringPacker;

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

}  // namespace

void pack_override_record(Packer& pk, const core::OverrideRecord& r) {
  const bool keyed = !r.scope.key.empty();
  pk.pack_array(static_cast<std::uint32_t>(keyed ? kKeyRecordFields : kOverrideFields));
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
  if (!keyed) return;
  pack_str(pk, r.scope.key);
  pk.pack(r.scope.counts_reset);
  pk.pack_array(static_cast<std::uint32_t>(kResetMarkFields * r.marks.size()));
  for (const core::ResetMark& m : r.marks) {
    pk.pack_uint64(m.counter_id);
    pk.pack_uint64(m.window_ms);
    pk.pack_uint64(m.window_id);
    pk.pack_uint64(m.current);
    pk.pack_uint64(m.previous);
  }
}

namespace {

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

// A policy-scoped record (exactly kOverrideFields), or with `keyed` a key record (at least
// kKeyRecordFields: a later version may append fields).
core::OverrideRecord override_of(const msgpack::object& o, bool keyed) {
  const msgpack::object_array& f = array_of(o);
  if (keyed ? f.size < kKeyRecordFields : f.size != kOverrideFields) throw Invalid{};
  const auto last_kind =
      static_cast<std::uint8_t>(keyed ? core::OverrideKind::reset : core::OverrideKind::factor);
  core::OverrideRecord r;
  r.scope.policy = text_of(f.ptr[0], bounds::policy_name_bytes_max);
  r.scope.tier = text_of(f.ptr[1], bounds::tier_name_bytes_max);
  r.scope.endpoint = text_of(f.ptr[2], bounds::endpoint_name_bytes_max);
  const std::uint64_t window_ms = uint_of(f.ptr[3]);
  const std::uint64_t kind = uint_of(f.ptr[4]);
  if (r.scope.policy.empty() || (window_ms != 0 && !bounds::window_ms_valid(window_ms)) ||
      kind > last_kind) {
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
  if (!keyed) return r;
  r.scope.key = text_of(f.ptr[13], bounds::override_key_bytes_max);
  if (r.scope.key.empty() || f.ptr[14].type != msgpack::type::BOOLEAN) throw Invalid{};
  r.scope.counts_reset = f.ptr[14].via.boolean;
  const msgpack::object_array& marks = array_of(f.ptr[15]);
  if (marks.size % kResetMarkFields != 0 ||
      marks.size > kResetMarkFields * bounds::limits_per_item_max) {
    throw Invalid{};
  }
  for (std::uint32_t m = 0; m < marks.size; m += kResetMarkFields) {
    core::ResetMark mark{uint_of(marks.ptr[m]), uint_of(marks.ptr[m + 1]),
                         uint_of(marks.ptr[m + 2]), uint_of(marks.ptr[m + 3]),
                         uint_of(marks.ptr[m + 4])};
    if (mark.counter_id == 0 || !bounds::window_ms_valid(mark.window_ms)) throw Invalid{};
    r.marks.push_back(mark);
  }
  return r;
}

}  // namespace

std::string relay_body(const core::ClusterMessage& message) {
  std::string body;
  StringSink sink{body};
  Packer pk(sink);
  pack_header_fields(pk, message, 2, message.flags);
  pk.pack_uint8(kRelayTo);
  pack_str(pk, message.relay_to);
  pk.pack_uint8(kRelayPayload);
  const std::string_view payload =
      message.relay_payload ? std::string_view(*message.relay_payload) : std::string_view();
  pk.pack_bin(static_cast<std::uint32_t>(payload.size()));
  pk.pack_bin_body(payload.data(), static_cast<std::uint32_t>(payload.size()));
  return body;
}

std::string rights_body(const core::ClusterMessage& message) {
  DRL_ASSERT(message.rights.size() <= bounds::rights_records_per_message_max,
             "a rights message fits the smallest datagram");
  std::string body;
  StringSink sink{body};
  Packer pk(sink);
  pack_header_fields(pk, message, 2, message.flags);
  pk.pack_uint8(kGrantedTo);
  pk.pack_uint64(message.granted_to);
  pk.pack_uint8(kRights);
  pk.pack_array(static_cast<std::uint32_t>(kRightsRecordFields * message.rights.size()));
  for (const core::RightsRecord& r : message.rights) {
    pk.pack_uint64(r.counter_id);
    pk.pack_uint64(r.window_ms);
    pk.pack_uint64(r.window_id);
    pk.pack_uint64(r.limit);
    pk.pack_uint64(r.asked);
    pk.pack_uint64(r.granted_total);
  }
  return body;
}

std::string members_body(const core::ClusterMessage& message, std::size_t members) {
  std::string body;
  StringSink sink{body};
  Packer pk(sink);
  const bool digest = message.members_digest != 0;
  pack_header_fields(pk, message, (members > 0 ? 1 : 0) + (digest ? 1 : 0), message.flags);
  if (digest) {
    pk.pack_uint8(kMembersDigest);
    pk.pack_uint64(message.members_digest);
  }
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
  return body;
}

std::string updates_body(const core::ClusterMessage& message, std::uint8_t flags,
                         const std::map<std::uint32_t, std::uint32_t>& refs,
                         std::span<const core::WireUpdate* const> updates) {
  std::string body;
  StringSink sink{body};
  Packer pk(sink);
  pack_header_fields(pk, message, 2, flags);
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
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (i == 0 || updates[i]->window_ms != updates[i - 1]->window_ms ||
        updates[i]->window_id != updates[i - 1]->window_id) {
      ++groups;
    }
  }
  pk.pack_array(static_cast<std::uint32_t>(groups));
  for (std::size_t start = 0; start < updates.size();) {
    std::size_t end = start;
    while (end < updates.size() && updates[end]->window_ms == updates[start]->window_ms &&
           updates[end]->window_id == updates[start]->window_id) {
      ++end;
    }
    pk.pack_array(3);
    pk.pack_uint64(updates[start]->window_ms);
    pk.pack_uint64(updates[start]->window_id);
    pk.pack_array(static_cast<std::uint32_t>(3 * (end - start)));
    for (std::size_t i = start; i < end; ++i) {
      pk.pack_uint64(updates[i]->counter_id);
      pk.pack_uint32(refs.at(updates[i]->origin));
      pk.pack_uint32(updates[i]->count);
    }
    start = end;
  }
  return body;
}

std::string overrides_body(const core::ClusterMessage& message,
                           std::span<const core::OverrideRecord* const> records) {
  // One list per body: a body holds either policy-scoped or key records (override_bodies).
  const bool keyed = !records.empty() && !records.front()->scope.key.empty();
  std::string body;
  StringSink sink{body};
  Packer pk(sink);
  pack_header_fields(pk, message, 1, message.flags);
  pk.pack_uint8(keyed ? kKeyRecords : kOverrides);
  pk.pack_array(static_cast<std::uint32_t>(records.size()));
  for (const core::OverrideRecord* record : records) {
    DRL_ASSERT(record->scope.key.empty() != keyed, "a body holds one kind of override record");
    pack_override_record(pk, *record);
  }
  return body;
}

bool override_sendable(const core::OverrideRecord& r) {
  const bool keyed = !r.scope.key.empty();
  return !r.scope.policy.empty() && r.scope.policy.size() <= bounds::policy_name_bytes_max &&
         r.scope.tier.size() <= bounds::tier_name_bytes_max &&
         r.scope.endpoint.size() <= bounds::endpoint_name_bytes_max &&
         (r.scope.window_ms == 0 || bounds::window_ms_valid(r.scope.window_ms)) &&
         static_cast<std::uint8_t>(r.kind) <=
             static_cast<std::uint8_t>(keyed ? core::OverrideKind::reset
                                             : core::OverrideKind::factor) &&
         r.scope.key.size() <= bounds::override_key_bytes_max &&
         r.marks.size() <= bounds::limits_per_item_max && (keyed || !r.scope.counts_reset) &&
         r.retain_until_wall_ms >= r.expires_wall_ms && r.reason.size() <= kReasonBytesMax &&
         !r.stamp.node_id.empty() && r.stamp.node_id.size() <= kNodeIdBytesMax;
}

bool decode_override_records(std::string_view bytes, std::size_t records_max,
                             std::vector<core::OverrideRecord>& out, std::size_t& consumed) {
  out.clear();
  consumed = 0;
  try {
    msgpack::zone zone;
    std::size_t offset = 0;
    bool referenced = false;
    // Record arrays of at most 16 fields, or a key record's marks; the list itself as declared,
    // checked against records_max before anything is read into `out`.
    const msgpack::object root = msgpack::unpack(
        zone, bytes.data(), bytes.size(), offset, referenced, reference_all, nullptr,
        msgpack::unpack_limit(std::max<std::size_t>(records_max, 5 * bounds::limits_per_item_max),
                              0, kStringBytesMax, 0, 0, 3));
    const msgpack::object_array& records = array_of(root);
    if (records.size > records_max) return false;
    out.reserve(records.size);
    for (std::uint32_t r = 0; r < records.size; ++r) {
      const bool keyed = array_of(records.ptr[r]).size != kOverrideFields;
      out.push_back(override_of(records.ptr[r], keyed));
    }
    consumed = offset;
    return true;
  } catch (const Invalid&) {
  } catch (const std::exception&) {
  }
  out.clear();
  return false;
}

bool decode_body(std::string_view body, core::ClusterMessage& m) {
  try {
    msgpack::zone zone;
    std::size_t offset = 0;
    bool referenced = false;
    const msgpack::object root = msgpack::unpack(
        zone, body.data(), body.size(), offset, referenced, reference_all, nullptr,
        msgpack::unpack_limit(body.size(), 16, kStringBytesMax, bounds::datagram_bytes_max, 0, 4));
    if (offset != body.size() || root.type != msgpack::type::MAP) throw Invalid{};
    m = core::ClusterMessage{};
    bool has_type = false;
    bool has_sender = false;
    const msgpack::object* groups = nullptr;
    const msgpack::object* overrides = nullptr;
    const msgpack::object* key_records = nullptr;
    const msgpack::object* relay_payload = nullptr;
    const msgpack::object* rights = nullptr;
    std::string_view relay_to;
    for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
      const msgpack::object& key = root.via.map.ptr[i].key;
      const msgpack::object& value = root.via.map.ptr[i].val;
      if (key.type != msgpack::type::POSITIVE_INTEGER) throw Invalid{};
      switch (key.via.u64) {
        case kType: {
          const std::uint64_t type = uint_of(value);
          if (type < 1 || type > static_cast<std::uint8_t>(core::MessageType::totals)) {
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
        case kKeyRecords:
          key_records = &value;
          break;
        case kRelayTo:
          relay_to = text_of(value, kAddressBytesMax);
          break;
        case kRelayPayload:
          if (value.type != msgpack::type::BIN) throw Invalid{};
          relay_payload = &value;
          break;
        case kRights:
          rights = &value;
          break;
        case kGrantedTo:
          m.granted_to = uint_of(value);
          break;
        case kMembersDigest:
          m.members_digest = uint_of(value);
          break;
        default:
          break;  // a field from a later version: ignored
      }
    }
    if (!has_type || !has_sender) throw Invalid{};
    // A relay names where to and carries a datagram: without either there is nothing to do.
    // Elsewhere both keys are ignored, like an unknown one.
    if (m.type == core::MessageType::relay) {
      if (relay_to.empty() || relay_payload == nullptr || relay_payload->via.bin.size == 0) {
        throw Invalid{};
      }
      m.relay_to = relay_to;
      m.relay_payload = std::make_shared<const std::string>(relay_payload->via.bin.ptr,
                                                            relay_payload->via.bin.size);
    }
    // Counts travel in deltas, repairs and totals only (protocol.md, key 9); elsewhere the key
    // is ignored like an unknown one, as the receiver would ignore the counts.
    const bool carries_counts = m.type == core::MessageType::delta ||
                                m.type == core::MessageType::repair ||
                                m.type == core::MessageType::totals;
    if (groups != nullptr && carries_counts) {
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
    // Rights records belong to the rights message only (elsewhere ignored, like an unknown
    // key): at most bounds::rights_records_per_message_max, each for a valid window.
    if (m.type == core::MessageType::rights && rights != nullptr) {
      const msgpack::object_array& flat = array_of(*rights);
      if (flat.size % kRightsRecordFields != 0 ||
          flat.size > kRightsRecordFields * bounds::rights_records_per_message_max) {
        throw Invalid{};
      }
      for (std::uint32_t k = 0; k < flat.size; k += kRightsRecordFields) {
        core::RightsRecord r{uint_of(flat.ptr[k]),     uint_of(flat.ptr[k + 1]),
                             uint_of(flat.ptr[k + 2]), uint_of(flat.ptr[k + 3]),
                             uint_of(flat.ptr[k + 4]), uint_of(flat.ptr[k + 5])};
        if (r.counter_id == 0 || !bounds::window_ms_valid(r.window_ms) ||
            r.limit > bounds::limit_max) {
          throw Invalid{};
        }
        m.rights.push_back(r);
      }
    }
    // Override records belong to the overrides message only; elsewhere the key is ignored like
    // an unknown one.
    if (m.type == core::MessageType::overrides) {
      for (const bool keyed : {false, true}) {
        const msgpack::object* list = keyed ? key_records : overrides;
        if (list == nullptr) continue;
        const msgpack::object_array& records = array_of(*list);
        for (std::uint32_t r = 0; r < records.size; ++r) {
          m.overrides.push_back(override_of(records.ptr[r], keyed));
        }
      }
    }
    return true;
  } catch (const Invalid&) {
  } catch (const std::exception&) {
  }
  return false;
}

}  // namespace drl::wire
