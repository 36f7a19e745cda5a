// [cluster]'s settings as the replicator takes them: the one mapping drld and drl-sim share, so
// that the simulator runs the timings and bounds a drld with the same config would.
#pragma once

#include "config/config.hpp"
#include "core/replicator.hpp"

namespace drl::config {

// The intervals, timeouts and bounds of `cluster`. The caller adds who this node is (node_id,
// incarnation, address) and whom it starts from (seeds).
core::ReplicationConfig replication_config_of(const ClusterSettings& cluster);

// [cluster] unreachable_after as in force: the configured value, or its default, 2.5 heartbeat
// intervals and at most suspect_after.
std::uint64_t unreachable_after_ms(const ClusterSettings& cluster);

}  // namespace drl::config
