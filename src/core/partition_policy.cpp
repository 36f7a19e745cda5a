#include "core/partition_policy.hpp"

namespace drl::core {

std::string_view partition_policy_name(PartitionPolicy policy) {
  switch (policy) {
    case PartitionPolicy::optimistic:
      return "optimistic";
    case PartitionPolicy::proportional:
      return "proportional";
  }
  return "optimistic";
}

std::optional<PartitionPolicy> parse_partition_policy(std::string_view name) {
  for (PartitionPolicy policy : {PartitionPolicy::optimistic, PartitionPolicy::proportional}) {
    if (name == partition_policy_name(policy)) return policy;
  }
  return std::nullopt;
}

}  // namespace drl::core
