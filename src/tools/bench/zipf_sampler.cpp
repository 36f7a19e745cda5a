#include "tools/bench/zipf_sampler.hpp"

#include <algorithm>
#include <cmath>

namespace drl::bench {
namespace {

// log(1 + x) / x, continuous at 0.
double log1p_over(double x) {
  if (std::abs(x) > 1e-8) return std::log1p(x) / x;
  return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

// (exp(x) - 1) / x, continuous at 0.
double expm1_over(double x) {
  if (std::abs(x) > 1e-8) return std::expm1(x) / x;
  return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

}  // namespace

ZipfSampler::ZipfSampler(std::uint64_t elements, double exponent)
    : elements_(elements), exponent_(exponent) {
  h_integral_x1_ = h_integral(1.5) - 1.0;
  h_integral_elements_ = h_integral(static_cast<double>(elements_) + 0.5);
  squeeze_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
}

double ZipfSampler::h(double x) const {
  return std::exp(-exponent_ * std::log(x));
}

double ZipfSampler::h_integral(double x) const {
  const double log_x = std::log(x);
  return expm1_over((1.0 - exponent_) * log_x) * log_x;
}

double ZipfSampler::h_integral_inverse(double x) const {
  const double t = std::max(x * (1.0 - exponent_), -1.0);
  return std::exp(log1p_over(t) * x);
}

std::uint64_t ZipfSampler::next(SplitMix& random) const {
  for (;;) {
    const double u = h_integral_elements_ + random.unit() * (h_integral_x1_ - h_integral_elements_);
    const double x = h_integral_inverse(u);
    const auto k =
        static_cast<std::uint64_t>(std::clamp(x + 0.5, 1.0, static_cast<double>(elements_)));
    const double kd = static_cast<double>(k);
    if (kd - x <= squeeze_ || u >= h_integral(kd + 0.5) - h(kd)) return k - 1;
  }
}

}  // namespace drl::bench
