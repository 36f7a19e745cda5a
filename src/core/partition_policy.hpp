// What a node's limits do while it cannot reach part of the cluster ([cluster] partition_policy,
// docs/replication.md): the one enum, its names in the config and the status, and their parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace drl::core {

enum class PartitionPolicy : std::uint8_t {
  optimistic,    // each side counts what it can see: up to one limit per side
  proportional,  // each side scales limits by the share of the cluster it can reach
};

// "optimistic" or "proportional", as the config writes them.
std::string_view partition_policy_name(PartitionPolicy policy);
// The policy a config names, or nothing for another word.
std::optional<PartitionPolicy> parse_partition_policy(std::string_view name);

}  // namespace drl::core
