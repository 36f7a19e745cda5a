// The control law of a load-adaptive limit (docs/dynamic-limits.md): a load signal in, the
// factor that scales the policy's limits out. Pure: samples and the time are passed in.
//
//   smoothed  = exponential moving average of the signal, time constant smoothing_ms
//   desired   = 1                              when smoothed <= target
//             = floor                          when smoothed >= floor_at
//             = linear from 1 down to floor    in between
//   factor    follows desired: down at once, up by at most (1 - floor) per recover_ms
//
// A steady load settles on one factor: the smoothing filters noise, the map is continuous, and
// the slow climb back keeps a load that depends on the admitted rate from swinging the factor
// (a drop takes effect at once; the way back up is gradual, so it meets the equilibrium from
// below instead of overshooting it). Changes below 1% are not published (no churn of the policy
// set for noise).
#pragma once

#include <cstdint>
#include <optional>

#include "core/policy.hpp"
#include "core/time.hpp"

namespace drl::core {

class AdaptiveController {
 public:
  explicit AdaptiveController(AdaptiveLaw law) : law_(std::move(law)) {}

  // One sample at `now`; nullopt: the signal is absent (not reported lately), which counts as
  // no load. Samples should come at a steady pace (drld: every 100 ms).
  void update(MonoTime now, std::optional<double> signal);

  // The factor in force, in thousandths: moves in steps of at least 10 (1%), or to 1000 or to
  // the floor exactly.
  std::uint32_t factor_permille() const { return published_permille_; }
  double factor() const { return factor_; }
  double smoothed_signal() const { return smoothed_; }
  bool signal_present() const { return present_; }
  const AdaptiveLaw& law() const { return law_; }

  // The factor the law maps a smoothed value to (before the climb limit).
  double desired_factor(double smoothed) const;

 private:
  AdaptiveLaw law_;
  bool started_ = false;
  bool present_ = false;
  MonoTime last_;
  double smoothed_ = 0;
  double factor_ = 1;
  std::uint32_t published_permille_ = 1000;
};

}  // namespace drl::core
