#include "core/rights_waits.hpp"

#include "core/assert.hpp"
#include "core/bounds.hpp"

namespace drl::core {

std::optional<WaitingCheck> RightsWaits::begin(const CheckOutcome& outcome, MonoTime now,
                                               std::uint64_t answers_seen) {
  const bool for_totals = outcome.totals_wait_ms != 0;
  const std::uint64_t wait_ms = for_totals ? outcome.totals_wait_ms : outcome.rights_wait_ms;
  if (wait_ms == 0) return std::nullopt;
  DRL_ASSERT(!outcome.allowed && outcome.rights_wait_ms <= bounds::rights_wait_max_ms &&
                 outcome.totals_wait_ms <= bounds::totals_wait_max_ms,
             "a check may wait only when not admitted, and at most rights_wait_max_ms for a "
             "grant or totals_wait_max_ms for totals");
  if (waiting_.fetch_add(1, std::memory_order_seq_cst) >= bounds::rights_waiters_max) {
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    (for_totals ? totals_waits_refused_ : waits_refused_).fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  if (for_totals &&
      totals_waiting_.fetch_add(1, std::memory_order_relaxed) >= totals_waiters_max_) {
    totals_waiting_.fetch_sub(1, std::memory_order_relaxed);
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    totals_waits_refused_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  (for_totals ? totals_waits_ : waits_).fetch_add(1, std::memory_order_relaxed);
  return WaitingCheck{now, after_ms(now, static_cast<std::int64_t>(wait_ms)), answers_seen,
                      for_totals};
}

bool RightsWaits::waits_on(WaitingCheck& wait, const CheckOutcome& outcome, MonoTime now,
                           std::uint64_t answers_seen) {
  wait.answers_seen = answers_seen;
  if (outcome.totals_wait_ms > 0) return true;
  if (outcome.rights_wait_ms > 0 && now < wait.deadline) return true;
  end(wait);
  const auto waited_ns = static_cast<std::uint64_t>(now.ns - wait.since.ns);
  if (wait.for_totals) {
    (now < wait.deadline ? totals_waits_answered_ : totals_waits_timed_out_)
        .fetch_add(1, std::memory_order_relaxed);
    totals_wait_ns_total_.fetch_add(waited_ns, std::memory_order_relaxed);
    return false;
  }
  if (outcome.allowed) waits_admitted_.fetch_add(1, std::memory_order_relaxed);
  wait_ns_total_.fetch_add(waited_ns, std::memory_order_relaxed);
  return false;
}

void RightsWaits::abandon(const WaitingCheck& wait) {
  end(wait);
}

void RightsWaits::end(const WaitingCheck& wait) {
  const std::size_t before = waiting_.fetch_sub(1, std::memory_order_seq_cst);
  DRL_ASSERT(before > 0, "a wait ends only once, after it began");
  if (wait.for_totals) {
    const std::size_t totals_before = totals_waiting_.fetch_sub(1, std::memory_order_relaxed);
    DRL_ASSERT(totals_before > 0, "a wait for totals ends only once, after it began");
  }
}

RightsWaitStats RightsWaits::stats() const {
  return RightsWaitStats{waits_.load(std::memory_order_relaxed),
                         waits_admitted_.load(std::memory_order_relaxed),
                         waits_refused_.load(std::memory_order_relaxed),
                         wait_ns_total_.load(std::memory_order_relaxed),
                         totals_waits_.load(std::memory_order_relaxed),
                         totals_waits_answered_.load(std::memory_order_relaxed),
                         totals_wait_ns_total_.load(std::memory_order_relaxed),
                         totals_waits_refused_.load(std::memory_order_relaxed),
                         totals_waits_timed_out_.load(std::memory_order_relaxed)};
}

}  // namespace drl::core
