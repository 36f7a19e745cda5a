#include "tools/bench/key_generator.hpp"

#include <charconv>
#include <utility>

namespace drl::bench {

KeyGenerator::KeyGenerator(KeyDistribution distribution, std::uint64_t keys, double zipf_exponent,
                           std::uint64_t seed, std::string prefix, std::uint64_t first_rank,
                           std::uint64_t rank_stride)
    : distribution_(distribution),
      keys_(keys == 0 ? 1 : keys),
      random_(seed),
      prefix_(std::move(prefix)),
      sequence_(first_rank),
      stride_(rank_stride == 0 ? 1 : rank_stride) {
  if (distribution_ == KeyDistribution::zipf) zipf_.emplace(keys_, zipf_exponent);
}

std::uint64_t KeyGenerator::next_rank() {
  switch (distribution_) {
    case KeyDistribution::uniform:
      return random_.below(keys_);
    case KeyDistribution::zipf:
      return zipf_->next(random_);
    case KeyDistribution::sequential: {
      const std::uint64_t rank = sequence_ % keys_;
      sequence_ += stride_;
      return rank;
    }
  }
  return 0;
}

void KeyGenerator::next_key(std::string& out) {
  char digits[24];
  const std::to_chars_result end = std::to_chars(digits, digits + sizeof digits, next_rank());
  out.assign(prefix_);
  out.append(digits, end.ptr);
}

}  // namespace drl::bench
