#include "wire/cluster_body_size.hpp"

namespace drl::wire {

std::size_t header_fields_bytes(const core::ClusterMessage& m) {
  return container_header_bytes_max + 2 * 1 /* type */ + 2 * 1 /* flags */ + 1 +
         str_bytes(m.sender_id) + 1 + uint_bytes(m.sender_incarnation) + 1 +
         str_bytes(m.sender_address) + 1 + int_bytes(m.sent_wall_ms) + 1 + uint_bytes(m.token);
}

std::size_t relay_body_overhead_bytes(const core::ClusterMessage& m) {
  return header_fields_bytes(m) + 1 + str_bytes(m.relay_to) + 1 + 5 /* bin32 header */;
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
         uint_bytes(r.stamp.logical) + str_bytes(r.stamp.node_id) + key_record_extra_bytes(r);
}

std::size_t key_record_extra_bytes(const core::OverrideRecord& r) {
  if (r.scope.key.empty()) return 0;
  std::size_t bytes = str_bytes(r.scope.key) + 1 /* counts_reset */ + container_header_bytes_max;
  for (const core::ResetMark& m : r.marks) {
    bytes += uint_bytes(m.counter_id) + uint_bytes(m.window_ms) + uint_bytes(m.window_id) +
             uint_bytes(m.current) + uint_bytes(m.previous);
  }
  return bytes;
}

}  // namespace drl::wire
