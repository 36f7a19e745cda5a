// The keys a load thread checks: "<prefix><rank>" with rank drawn uniformly, Zipf-distributed,
// or in sequence (0, 1, 2, ...: each key once, for filling a store). Every target gets keys
// from this one generator, so drl and Redis see the same key stream for the same seed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tools/bench/split_mix.hpp"
#include "tools/bench/zipf_sampler.hpp"

namespace drl::bench {

enum class KeyDistribution { uniform, zipf, sequential };

class KeyGenerator {
 public:
  // `first_rank` and `rank_stride` spread a sequential walk over several threads.
  KeyGenerator(KeyDistribution distribution, std::uint64_t keys, double zipf_exponent,
               std::uint64_t seed, std::string prefix, std::uint64_t first_rank = 0,
               std::uint64_t rank_stride = 1);

  std::uint64_t next_rank();
  // The next key's text, written into `out` (reused, so no allocation once warm).
  void next_key(std::string& out);

 private:
  KeyDistribution distribution_;
  std::uint64_t keys_;
  SplitMix random_;
  std::optional<ZipfSampler> zipf_;
  std::string prefix_;
  std::uint64_t sequence_;
  std::uint64_t stride_;
};

}  // namespace drl::bench
