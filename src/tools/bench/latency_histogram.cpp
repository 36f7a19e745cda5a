#include "tools/bench/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace drl::bench {

std::size_t LatencyHistogram::bucket_of(std::uint64_t nanoseconds) {
  if (nanoseconds < kExactBelow) return static_cast<std::size_t>(nanoseconds);
  const unsigned exponent = 63U - static_cast<unsigned>(std::countl_zero(nanoseconds));
  const unsigned shift = exponent - kSubBucketBits;
  const std::uint64_t mantissa = (nanoseconds >> shift) - (std::uint64_t{1} << kSubBucketBits);
  return kExactBelow + (exponent - (kSubBucketBits + 1)) * (std::size_t{1} << kSubBucketBits) +
         static_cast<std::size_t>(mantissa);
}

std::uint64_t LatencyHistogram::bucket_low(std::size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const std::size_t above = bucket - kExactBelow;
  const unsigned exponent = static_cast<unsigned>(above >> kSubBucketBits) + kSubBucketBits + 1;
  const std::uint64_t mantissa =
      (above & ((std::size_t{1} << kSubBucketBits) - 1)) + (std::uint64_t{1} << kSubBucketBits);
  return mantissa << (exponent - kSubBucketBits);
}

std::uint64_t LatencyHistogram::bucket_high(std::size_t bucket) {
  if (bucket + 1 >= kBuckets) return UINT64_MAX;
  return bucket_low(bucket + 1) - 1;
}

void LatencyHistogram::record(std::uint64_t nanoseconds) {
  ++buckets_[bucket_of(nanoseconds)];
  ++count_;
  max_ns_ = std::max(max_ns_, nanoseconds);
  sum_ns_ += static_cast<long double>(nanoseconds);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
  sum_ns_ += other.sum_ns_;
}

double LatencyHistogram::mean_ns() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_ns_ / static_cast<long double>(count_));
}

std::uint64_t LatencyHistogram::percentile_ns(double fraction) const {
  if (count_ == 0) return 0;
  const double clamped = std::clamp(fraction, 0.0, 1.0);
  // The rank of the value asked for, 1-based: p50 of 10 values is the 5th.
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(clamped * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const std::uint64_t low = bucket_low(i);
      const std::uint64_t high = std::min(bucket_high(i), max_ns_);
      return low + (high - low) / 2;
    }
  }
  return max_ns_;
}

}  // namespace drl::bench
