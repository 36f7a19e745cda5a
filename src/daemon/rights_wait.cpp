#include "daemon/rights_wait.hpp"

#include <chrono>
#include <utility>

#include "core/bounds.hpp"
#include "io/clock.hpp"

namespace drl::daemon {

RightsWait::RightsWait(const core::RightsLedger& ledger, std::function<void()> send_now)
    : ledger_(ledger), send_now_(std::move(send_now)) {}

void RightsWait::check(core::CheckEngine& engine, const core::PolicySet& policies,
                       std::span<const core::CheckItem> items, core::CheckOutcome& outcome,
                       core::WallTime& now) {
  // Read before each check, so that an answer merged between the check and the wait wakes it.
  std::uint64_t seen = ledger_.answers_merged();
  engine.check(policies, now, items, outcome);
  if (outcome.rights_wait_ms == 0) return;
  if (waiting_.fetch_add(1, std::memory_order_acq_rel) >= bounds::rights_waiters_max) {
    waiting_.fetch_sub(1, std::memory_order_acq_rel);
    waits_refused_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  waits_.fetch_add(1, std::memory_order_relaxed);
  const core::MonoTime started = io::mono_now();
  // mono_now reads CLOCK_MONOTONIC, steady_clock's clock on Linux: the deadline converts.
  const std::chrono::steady_clock::time_point deadline{std::chrono::nanoseconds(
      started.ns + static_cast<std::int64_t>(outcome.rights_wait_ms) * 1'000'000)};
  while (outcome.rights_wait_ms > 0) {
    send_now_();
    {
      std::unique_lock lock(mutex_);
      const bool answered =
          answered_.wait_until(lock, deadline, [&] { return ledger_.answers_merged() != seen; });
      if (!answered) break;  // the wait is over: the denial stands
    }
    now = io::wall_now();
    seen = ledger_.answers_merged();
    engine.check(policies, now, items, outcome);
  }
  waiting_.fetch_sub(1, std::memory_order_acq_rel);
  if (outcome.allowed) waits_admitted_.fetch_add(1, std::memory_order_relaxed);
  wait_us_total_.fetch_add(static_cast<std::uint64_t>((io::mono_now().ns - started.ns) / 1000),
                           std::memory_order_relaxed);
}

void RightsWait::on_datagram() {
  if (waiting_.load(std::memory_order_acquire) == 0) return;
  // Under the lock, so that a thread between its test and its wait does not miss the wake.
  { std::lock_guard lock(mutex_); }
  answered_.notify_all();
}

RightsWaitStats RightsWait::stats() const {
  return RightsWaitStats{waits_.load(std::memory_order_relaxed),
                         waits_admitted_.load(std::memory_order_relaxed),
                         waits_refused_.load(std::memory_order_relaxed),
                         wait_us_total_.load(std::memory_order_relaxed)};
}

}  // namespace drl::daemon
