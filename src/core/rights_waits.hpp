// A hard limit's rights_wait_max (docs/replication.md, "Waiting for a grant"), the rule drld's
// threads (daemon/rights_wait.hpp) and the simulator's parked checks both follow: a check denied
// for want of rights on this node, with a wait allowed, makes the node send its requests for
// rights at once and waits; it looks again when an answer to one of this node's requests has
// been merged, and once more when its wait (counted from its first check) is over; it stops
// waiting when admitted, denied for another reason, or at that last look. At most
// bounds::rights_waiters_max checks wait at a time on a node, the others are denied at once:
// a wait holds a thread in drld.
//
// The same rule holds a key's first check through key owners (CheckOutcome::totals_wait_ms,
// core/totals_requests.hpp): it waits for its owners' totals, looks again when a totals message
// has been merged, and is decided (on what the node knows) at its last look, when the caller
// no longer lets it wait. The caller counts the answers of both kinds together.
//
// Time is passed in. Thread-safe: the counters are atomics, a wait belongs to its check.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <optional>

#include "core/bounds.hpp"
#include "core/check_engine.hpp"
#include "core/time.hpp"

namespace drl::core {

struct RightsWaitStats {
  std::uint64_t waits = 0;           // checks that waited for a grant
  std::uint64_t waits_admitted = 0;  // admitted after their wait
  std::uint64_t waits_refused = 0;   // denied at once: bounds::rights_waiters_max were waiting
  std::uint64_t wait_ns_total = 0;   // time spent waiting, all checks together
  // Keys' first checks that waited for their owners' totals; of them, those the totals reached
  // before the wait was over; the time they spent waiting.
  std::uint64_t totals_waits = 0;
  std::uint64_t totals_waits_answered = 0;
  std::uint64_t totals_wait_ns_total = 0;
  // Keys' first checks decided at once: totals_waiters_max were waiting for totals already (or
  // bounds::rights_waiters_max checks in all); and those whose wait ran out before the totals.
  std::uint64_t totals_waits_refused = 0;
  std::uint64_t totals_waits_timed_out = 0;
};

// One check's wait.
struct WaitingCheck {
  MonoTime since;
  MonoTime deadline;
  std::uint64_t answers_seen = 0;  // the answers merged before its last check
  bool for_totals = false;         // it began as a wait for a key's owners' totals

  // Whether the check looks again at `now`, the ledger having merged `answers_merged` answers.
  bool looks_again(std::uint64_t answers_merged, MonoTime now) const {
    return answers_merged != answers_seen || now >= deadline;
  }
};

class RightsWaits {
 public:
  // At most `totals_waiters_max` of the waiting checks wait for totals (at least 1): drld keeps
  // some of its worker threads for the other checks while keys' first checks wait (a flood of
  // new keys would otherwise hold them all, each a round trip). Beyond it, a key's first check
  // is decided at once, counted as refused.
  explicit RightsWaits(std::size_t totals_waiters_max = bounds::rights_waiters_max)
      : totals_waiters_max_(std::max<std::size_t>(1, totals_waiters_max)) {}

  // After a check decided at `now` (`answers_seen`: the answers merged, read before it): its
  // wait, if it was denied for want of rights with a wait allowed, or held for its owners'
  // totals, and a place is free; none otherwise (a refusal counted when only the bound stood in
  // the way: a check held for totals is then to be decided at once, without them).
  std::optional<WaitingCheck> begin(const CheckOutcome& outcome, MonoTime now,
                                    std::uint64_t answers_seen);
  // After the check looked again at `now` (`answers_seen` read before it): whether it waits on.
  // A check still held for totals always does (its caller decides it at its next look, once the
  // deadline is past). When it does not, its wait ends, counted.
  bool waits_on(WaitingCheck& wait, const CheckOutcome& outcome, MonoTime now,
                std::uint64_t answers_seen);
  // The check is dropped while it waits (its node stopped): its place is freed, nothing counted.
  void abandon(const WaitingCheck& wait);

  // Sequentially consistent, as the ledger's answers_merged(): a waiter adds itself then reads
  // the answers, the cluster thread adds an answer then reads the waiters; one sees the other.
  std::size_t waiting() const { return waiting_.load(std::memory_order_seq_cst); }
  RightsWaitStats stats() const;

 private:
  // Gives back the place of a wait that ends.
  void end(const WaitingCheck& wait);

  std::size_t totals_waiters_max_;
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::size_t> totals_waiting_{0};
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<std::uint64_t> waits_admitted_{0};
  std::atomic<std::uint64_t> waits_refused_{0};
  std::atomic<std::uint64_t> wait_ns_total_{0};
  std::atomic<std::uint64_t> totals_waits_{0};
  std::atomic<std::uint64_t> totals_waits_answered_{0};
  std::atomic<std::uint64_t> totals_wait_ns_total_{0};
  std::atomic<std::uint64_t> totals_waits_refused_{0};
  std::atomic<std::uint64_t> totals_waits_timed_out_{0};
};

}  // namespace drl::core
