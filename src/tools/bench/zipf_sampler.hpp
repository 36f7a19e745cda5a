// Zipf-distributed ranks 0 .. n-1 (rank r drawn with probability proportional to 1/(r+1)^s), by
// rejection-inversion (Hörmann and Derflinger 1996, as in Apache Commons Math): constant time
// and memory per draw whatever n is, so a million keys need no table.
#pragma once

#include <cstdint>

#include "tools/bench/split_mix.hpp"

namespace drl::bench {

class ZipfSampler {
 public:
  // Preconditions: elements >= 1, exponent > 0.
  ZipfSampler(std::uint64_t elements, double exponent);

  std::uint64_t next(SplitMix& random) const;

 private:
  double h(double x) const;
  double h_integral(double x) const;
  double h_integral_inverse(double x) const;

  std::uint64_t elements_;
  double exponent_;
  double h_integral_x1_;
  double h_integral_elements_;
  double squeeze_;
};

}  // namespace drl::bench
