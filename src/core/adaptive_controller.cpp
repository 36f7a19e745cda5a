#include "core/adaptive_controller.hpp"

#include <algorithm>
#include <cmath>

namespace drl::core {

double AdaptiveController::desired_factor(double smoothed) const {
  const double floor = static_cast<double>(law_.floor_permille) / 1000.0;
  if (smoothed <= law_.target) return 1.0;
  if (smoothed >= law_.floor_at) return floor;
  const double progress = (smoothed - law_.target) / (law_.floor_at - law_.target);
  return 1.0 - (1.0 - floor) * progress;
}

void AdaptiveController::update(MonoTime now, std::optional<double> signal) {
  const double sample = signal.value_or(0.0);
  present_ = signal.has_value();
  if (!started_) {
    started_ = true;
    last_ = now;
    smoothed_ = sample;
  }
  const double elapsed_ms = static_cast<double>(std::max<std::int64_t>(0, now.ns - last_.ns)) / 1e6;
  last_ = now;
  // Exponential moving average with time constant smoothing_ms, exact for uneven steps.
  const double keep =
      law_.smoothing_ms > 0 ? std::exp(-elapsed_ms / static_cast<double>(law_.smoothing_ms)) : 0.0;
  smoothed_ = keep * smoothed_ + (1.0 - keep) * sample;

  const double desired = desired_factor(smoothed_);
  const double floor = static_cast<double>(law_.floor_permille) / 1000.0;
  if (desired <= factor_) {
    factor_ = desired;  // protect at once
  } else {
    const double climb = law_.recover_ms > 0
                             ? (1.0 - floor) * elapsed_ms / static_cast<double>(law_.recover_ms)
                             : 1.0;
    factor_ = std::min(desired, factor_ + climb);
  }

  const auto permille = static_cast<std::uint32_t>(std::lround(factor_ * 1000.0));
  const std::uint32_t diff = permille > published_permille_ ? permille - published_permille_
                                                            : published_permille_ - permille;
  if (diff >= 10 || permille == 1000 || permille == law_.floor_permille) {
    published_permille_ = std::clamp<std::uint32_t>(permille, law_.floor_permille, 1000);
  }
}

}  // namespace drl::core
