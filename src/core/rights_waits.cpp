#include "core/rights_waits.hpp"

#include "core/assert.hpp"
#include "core/bounds.hpp"

namespace drl::core {

std::optional<WaitingCheck> RightsWaits::begin(const CheckOutcome& outcome, MonoTime now,
                                               std::uint64_t answers_seen) {
  if (outcome.rights_wait_ms == 0) return std::nullopt;
  DRL_ASSERT(!outcome.allowed && outcome.rights_wait_ms <= bounds::rights_wait_max_ms,
             "a check may wait for a grant only when denied, and at most rights_wait_max_ms");
  if (waiting_.fetch_add(1, std::memory_order_seq_cst) >= bounds::rights_waiters_max) {
    waiting_.fetch_sub(1, std::memory_order_seq_cst);
    waits_refused_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  waits_.fetch_add(1, std::memory_order_relaxed);
  return WaitingCheck{now, after_ms(now, static_cast<std::int64_t>(outcome.rights_wait_ms)),
                      answers_seen};
}

bool RightsWaits::waits_on(WaitingCheck& wait, const CheckOutcome& outcome, MonoTime now,
                           std::uint64_t answers_seen) {
  wait.answers_seen = answers_seen;
  if (outcome.rights_wait_ms > 0 && now < wait.deadline) return true;
  const std::size_t before = waiting_.fetch_sub(1, std::memory_order_seq_cst);
  DRL_ASSERT(before > 0, "a wait ends only once, after it began");
  if (outcome.allowed) waits_admitted_.fetch_add(1, std::memory_order_relaxed);
  wait_ns_total_.fetch_add(static_cast<std::uint64_t>(now.ns - wait.since.ns),
                           std::memory_order_relaxed);
  return false;
}

void RightsWaits::abandon() {
  const std::size_t before = waiting_.fetch_sub(1, std::memory_order_seq_cst);
  DRL_ASSERT(before > 0, "a wait is abandoned only after it began");
}

RightsWaitStats RightsWaits::stats() const {
  return RightsWaitStats{waits_.load(std::memory_order_relaxed),
                         waits_admitted_.load(std::memory_order_relaxed),
                         waits_refused_.load(std::memory_order_relaxed),
                         wait_ns_total_.load(std::memory_order_relaxed)};
}

}  // namespace drl::core
