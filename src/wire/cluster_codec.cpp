// ClusterCodec ties the parts of the cluster protocol together: it splits a message into bodies
// that fit a datagram (planning with cluster_body_size.hpp, packing with cluster_body.hpp), and
// frames, checks and decodes datagrams (cluster_framing.hpp, then cluster_body.hpp).
#include "wire/cluster_codec.hpp"

#include <algorithm>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/assert.hpp"
#include "core/bounds.hpp"
#include "wire/cluster_body.hpp"
#include "wire/cluster_body_size.hpp"
#include "wire/cluster_framing.hpp"

namespace drl::wire {
namespace {

// Nodes from before windows longer than 31 days drop a datagram that carries one as malformed,
// with everything else in it: such windows travel in datagrams of their own, so that those
// nodes still get every other count and override.
bool long_window(std::uint64_t window_ms) {
  return window_ms > bounds::window_ms_any_max;
}

// An overrides message: as many records per body as fit, in order, those with windows longer
// than 31 days last and in bodies of their own (long_window). A record that does not fit an
// empty body on its own (possible only below datagram_bytes 1046, or a little above through a
// relay, whose envelope takes room), or that a receiver would refuse, is left out and counted
// in `left_out`. Always at least one body, so that an empty list
// still says "I am alive".
std::vector<std::string> override_bodies(const core::ClusterMessage& m, std::size_t budget,
                                         std::size_t* left_out) {
  const std::size_t base = header_fields_bytes(m) + list_field_bytes_max;
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
  // Policy-scoped records first, those with long windows next, key records last: a body holds
  // records of one group only (old nodes drop a body with a long window, ignore key records).
  const auto group = [](const core::OverrideRecord* r) {
    return !r->scope.key.empty() ? 2 : long_window(r->scope.window_ms) ? 1 : 0;
  };
  std::stable_sort(sendable.begin(), sendable.end(),
                   [&](const auto* a, const auto* b) { return group(a) < group(b); });

  std::vector<std::string> bodies;
  std::size_t next = 0;
  do {
    const std::size_t first = next;
    std::size_t size = base;
    while (next < sendable.size() && size + override_bytes(*sendable[next]) <= budget &&
           (next == first || group(sendable[next]) == group(sendable[first]))) {
      size += override_bytes(*sendable[next]);
      ++next;
    }
    bodies.push_back(overrides_body(m, std::span(sendable).subspan(first, next - first)));
  } while (next < sendable.size());
  return bodies;
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
  if (!frame_macs_available()) options_.keys.clear();
}

std::size_t ClusterCodec::body_bytes_max() const {
  return options_.datagram_bytes_max - frame_header_bytes -
         (authenticated() ? frame_mac_bytes : frame_checksum_bytes);
}

std::size_t ClusterCodec::relay_overhead_bytes(const core::ClusterMessage& envelope) const {
  return options_.datagram_bytes_max - body_bytes_max() + relay_body_overhead_bytes(envelope);
}

std::vector<std::string> ClusterCodec::encode_bodies(const core::ClusterMessage& message,
                                                     std::size_t* overrides_left_out,
                                                     std::size_t reserve_bytes) const {
  std::vector<std::string> bodies;
  DRL_ASSERT(reserve_bytes <= body_bytes_max() / 2, "a datagram keeps half its body or more");
  const std::size_t budget = body_bytes_max() - reserve_bytes;
  const std::size_t base = header_fields_bytes(message);
  if (message.type == core::MessageType::overrides) {
    return override_bodies(message, budget, overrides_left_out);
  }
  // A relay carries one datagram, which fits one (ClusterNode leaves room for the envelope).
  if (message.type == core::MessageType::relay) return {relay_body(message)};
  if (message.type == core::MessageType::rights) return {rights_body(message)};

  if (!message.updates || message.updates->empty()) {
    // Heartbeats and acks: one body, with as many members as fit.
    std::size_t size = base + list_field_bytes_max +
                       (message.members_digest != 0 ? 1 + uint_bytes(message.members_digest) : 0);
    std::size_t members = 0;
    while (members < message.members.size() &&
           size + member_bytes(message.members[members]) <= budget) {
      size += member_bytes(message.members[members]);
      ++members;
    }
    bodies.push_back(members_body(message, members));
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
    std::size_t size = base + 2 * list_field_bytes_max;
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
        add += group_bytes(u);
      }
      add += update_bytes(u, ref_index);
      if (next > first && (size + add > budget ||
                           long_window(u.window_ms) != long_window(order[first]->window_ms))) {
        break;
      }
      size += add;
      if (ref == refs.end()) refs.emplace(u.origin, ref_index);
      group = &u;
      ++next;
    }

    // A split message completes a sync only with its last datagram, which an older node must
    // read too: after a datagram of long windows, a datagram of its own (below).
    const bool last = next == order.size() && !long_window(order[first]->window_ms);
    bodies.push_back(updates_body(
        message,
        last ? message.flags : static_cast<std::uint8_t>(message.flags & ~core::kFlagSyncComplete),
        refs, std::span(order).subspan(first, next - first)));
  }
  if (!order.empty() && long_window(order.back()->window_ms) &&
      (message.flags & core::kFlagSyncComplete) != 0) {
    bodies.push_back(members_body(message, 0));  // the header fields alone
  }
  return bodies;
}

std::string ClusterCodec::seal(std::string_view body, std::uint64_t sequence,
                               std::uint32_t destination) const {
  return seal_frame(body, sequence, destination,
                    authenticated() ? &options_.keys.front() : nullptr);
}

bool ClusterCodec::open(std::string_view datagram, DecodedDatagram& out, DropReason& reason) const {
  OpenedFrame frame;
  if (!open_frame(datagram, options_.keys, frame, reason)) return false;
  out.destination_tag = frame.destination_tag;
  out.sequence = frame.sequence;
  if (!decode_body(frame.body, out.message)) {
    reason = DropReason::malformed;
    return false;
  }
  return true;
}

}  // namespace drl::wire
