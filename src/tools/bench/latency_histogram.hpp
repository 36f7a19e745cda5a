// Latencies in nanoseconds, kept in log-linear buckets: exact below 256 ns, then 128 buckets per
// power of two, so every recorded value is known to within 0.8%. Fixed size (about 60 KiB), no
// allocation after construction; one per load thread, merged at the end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace drl::bench {

class LatencyHistogram {
 public:
  void record(std::uint64_t nanoseconds);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t max_ns() const { return max_ns_; }
  double mean_ns() const;
  // The value below which `fraction` (0..1) of the recorded values lie, as the midpoint of its
  // bucket. 0 when nothing was recorded.
  std::uint64_t percentile_ns(double fraction) const;

 private:
  static constexpr unsigned kSubBucketBits = 7;
  static constexpr std::uint64_t kExactBelow = std::uint64_t{1} << (kSubBucketBits + 1);
  static constexpr std::size_t kBuckets =
      kExactBelow + (64 - (kSubBucketBits + 1)) * (std::size_t{1} << kSubBucketBits);

  static std::size_t bucket_of(std::uint64_t nanoseconds);
  static std::uint64_t bucket_low(std::size_t bucket);
  static std::uint64_t bucket_high(std::size_t bucket);

  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
  long double sum_ns_ = 0;
};

}  // namespace drl::bench
