// The partition policy's names: what the config, the status and drl-sim write and read.
#include "core/partition_policy.hpp"

#include <doctest/doctest.h>

using drl::core::parse_partition_policy;
using drl::core::partition_policy_name;
using drl::core::PartitionPolicy;

TEST_CASE("partition policy: each policy's name parses back to it, and nothing else parses") {
  for (PartitionPolicy policy : {PartitionPolicy::optimistic, PartitionPolicy::proportional}) {
    CHECK(parse_partition_policy(partition_policy_name(policy)) == policy);
  }
  CHECK(partition_policy_name(PartitionPolicy::optimistic) == "optimistic");
  CHECK(partition_policy_name(PartitionPolicy::proportional) == "proportional");
  for (const char* other : {"", "Optimistic", "pessimistic", "proportional "}) {
    CAPTURE(other);
    CHECK_FALSE(parse_partition_policy(other).has_value());
  }
}
