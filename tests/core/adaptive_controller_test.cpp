// The control law of load-adaptive limits: a map from the smoothed signal to a factor, a drop
// at once, a bounded climb back, and no swinging under a steady load.
#include <doctest/doctest.h>

#include <algorithm>
#include <optional>

#include "core/adaptive_controller.hpp"

using namespace drl::core;

namespace {

AdaptiveLaw queue_law() {
  AdaptiveLaw law;
  law.signal = "reported:queue_depth";
  law.target = 100;
  law.floor_at = 300;
  law.floor_permille = 200;
  law.smoothing_ms = 2000;
  law.recover_ms = 10'000;
  return law;
}

constexpr std::int64_t kStepMs = 100;

MonoTime at_ms(std::int64_t ms) {
  return MonoTime{ms * 1'000'000};
}

// Feeds `signal` every 100 ms from `from_ms` for `duration_ms`; returns the time after.
std::int64_t feed(AdaptiveController& c, std::int64_t from_ms, std::int64_t duration_ms,
                  std::optional<double> signal) {
  for (std::int64_t t = from_ms; t < from_ms + duration_ms; t += kStepMs)
    c.update(at_ms(t), signal);
  return from_ms + duration_ms;
}

}  // namespace

TEST_CASE("the law maps the smoothed signal linearly from 1 at the target to the floor") {
  const AdaptiveController c(queue_law());
  CHECK(c.desired_factor(0) == 1.0);
  CHECK(c.desired_factor(100) == 1.0);
  CHECK(c.desired_factor(200) == doctest::Approx(0.6));
  CHECK(c.desired_factor(300) == doctest::Approx(0.2));
  CHECK(c.desired_factor(1e9) == doctest::Approx(0.2));
}

TEST_CASE("a signal below the target leaves the factor at 1") {
  AdaptiveController c(queue_law());
  feed(c, 0, 30'000, 80.0);
  CHECK(c.factor_permille() == 1000);
}

TEST_CASE("a load above the target lowers the factor within a few smoothing times") {
  AdaptiveController c(queue_law());
  std::int64_t t = feed(c, 0, 1000, 0.0);
  t = feed(c, t, 2000, 300.0);  // one smoothing time: the average is 63% of the way, ~190
  CHECK(c.factor_permille() < 1000);
  CHECK(c.factor_permille() > 200);
  feed(c, t, 8000, 1000.0);
  CHECK(c.factor_permille() == 200);
}

TEST_CASE("when the load falls the factor climbs back no faster than recover allows") {
  AdaptiveController c(queue_law());
  std::int64_t t = feed(c, 0, 20'000, 1000.0);
  REQUIRE(c.factor_permille() == 200);
  t = feed(c, t, 5000, 0.0);
  // Half of recover: at most half of the way from the floor to 1.
  CHECK(c.factor() <= 0.6 + 1e-9);
  CHECK(c.factor() > 0.2);
  feed(c, t, 10'000, 0.0);
  CHECK(c.factor_permille() == 1000);
}

TEST_CASE("a signal that stops being reported counts as no load") {
  AdaptiveController c(queue_law());
  std::int64_t t = feed(c, 0, 20'000, 1000.0);
  REQUIRE(c.factor_permille() == 200);
  feed(c, t, 20'000, std::nullopt);
  CHECK_FALSE(c.signal_present());
  CHECK(c.factor_permille() == 1000);
}

TEST_CASE("published factors move in steps of at least 1%, so noise does not churn limits") {
  AdaptiveController c(queue_law());
  std::int64_t t = feed(c, 0, 20'000, 200.0);
  const std::uint32_t settled = c.factor_permille();
  CHECK(settled == doctest::Approx(600).epsilon(0.02));
  for (int i = 0; i < 100; ++i) {
    c.update(at_ms(t), i % 2 == 0 ? 201.0 : 199.0);
    t += kStepMs;
    CHECK(c.factor_permille() == settled);
  }
}

TEST_CASE("in a closed loop where the load follows the admitted rate, the factor settles") {
  // The protected service: its latency grows with what drl admits. Demand is above the limit.
  AdaptiveController c(queue_law());
  const double limit_per_s = 100;
  const double demand_per_s = 150;
  double latency_ms = 20;
  std::uint32_t low = 1000;
  std::uint32_t high = 0;
  for (std::int64_t t = 0; t < 120'000; t += kStepMs) {
    c.update(at_ms(t), latency_ms);
    const double admitted = std::min(demand_per_s, limit_per_s * c.factor_permille() / 1000.0);
    latency_ms = 20 + 2 * admitted;
    if (t >= 60'000) {
      low = std::min(low, c.factor_permille());
      high = std::max(high, c.factor_permille());
    }
  }
  // The fixed point of f = 1 - 0.8 (s - 100) / 200 with s = 20 + 200 f is f = 0.733.
  CHECK(low == doctest::Approx(733).epsilon(0.02));
  CHECK(high - low <= 20);
}
