#include "daemon/rights_wait.hpp"

#include <chrono>
#include <utility>

#include "io/clock.hpp"

namespace drl::daemon {

RightsWait::RightsWait(const core::RightsLedger& ledger, const core::TotalsRequests& totals,
                       std::size_t workers, std::function<void()> send_now)
    : ledger_(ledger), totals_(totals), send_now_(std::move(send_now)), waits_(workers / 2) {}

void RightsWait::check(core::CheckEngine& engine, const core::PolicySet& policies,
                       std::span<const core::CheckItem> items, core::CheckOutcome& outcome,
                       core::WallTime& now) {
  // Read before each check, so that an answer merged between the check and the wait wakes it.
  std::uint64_t seen = answers();
  engine.check(policies, now, items, outcome, true);
  std::optional<core::WaitingCheck> wait = waits_.begin(outcome, io::mono_now(), seen);
  if (!wait) {
    // Held for totals with no place to wait: decided on what this node knows.
    if (outcome.totals_wait_ms > 0) engine.check(policies, now, items, outcome);
    return;
  }
  // mono_now reads CLOCK_MONOTONIC, steady_clock's clock on Linux: the deadline converts.
  const std::chrono::steady_clock::time_point deadline{std::chrono::nanoseconds(wait->deadline.ns)};
  // The place is freed by waits_on when the wait ends, or here if a check throws meanwhile.
  try {
    do {
      send_now_();
      {
        std::unique_lock lock(mutex_);
        answered_.wait_until(lock, deadline, [&] { return answers() != wait->answers_seen; });
      }
      now = io::wall_now();
      seen = answers();
      // Held for totals at most until the deadline: the last look decides.
      const bool may_wait = io::mono_now() < wait->deadline;
      engine.check(policies, now, items, outcome, may_wait);
    } while (waits_.waits_on(*wait, outcome, io::mono_now(), seen));
  } catch (...) {
    waits_.abandon(*wait);
    throw;
  }
}

void RightsWait::on_datagram() {
  if (waits_.waiting() == 0) return;
  // Under the lock, so that a thread between its test and its wait does not miss the wake.
  { std::lock_guard lock(mutex_); }
  answered_.notify_all();
}

}  // namespace drl::daemon
