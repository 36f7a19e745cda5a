// drld's side of a hard limit's rights_wait_max: a thread that answers checks (a socket worker,
// the HTTP endpoint) whose check was denied for want of rights on this node, with a wait allowed,
// asks its peers for rights at once and waits here for their answer, up to the policy's bound,
// then checks again. The cluster driver's thread wakes it when an answer to a request of this
// node was merged. Like the start-up hold, a wait holds its thread: at most
// bounds::rights_waiters_max checks wait at a time, the others are denied at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "core/check_engine.hpp"
#include "core/rights_ledger.hpp"

namespace drl::daemon {

struct RightsWaitStats {
  std::uint64_t waits = 0;           // checks that waited for a grant
  std::uint64_t waits_admitted = 0;  // admitted after their wait
  std::uint64_t waits_refused = 0;   // denied at once: bounds::rights_waiters_max were waiting
  std::uint64_t wait_us_total = 0;   // time spent waiting, all checks together
};

class RightsWait {
 public:
  // `send_now` makes the cluster send the ledger's requests at once (any thread).
  RightsWait(const core::RightsLedger& ledger, std::function<void()> send_now);

  // engine.check(); then, while the check is denied for want of rights with a wait allowed
  // (outcome.rights_wait_ms), waits for an answer to this node's requests and checks again,
  // until admitted, denied otherwise, or the wait is over. `now` is the time of the check;
  // the time of the last one on return.
  void check(core::CheckEngine& engine, const core::PolicySet& policies,
             std::span<const core::CheckItem> items, core::CheckOutcome& outcome,
             core::WallTime& now);

  // The cluster driver's thread, after each datagram: wakes the waiting threads if an answer
  // was merged.
  void on_datagram();

  RightsWaitStats stats() const;

 private:
  const core::RightsLedger& ledger_;
  std::function<void()> send_now_;
  std::mutex mutex_;
  std::condition_variable answered_;
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::uint64_t> waits_{0};
  std::atomic<std::uint64_t> waits_admitted_{0};
  std::atomic<std::uint64_t> waits_refused_{0};
  std::atomic<std::uint64_t> wait_us_total_{0};
};

}  // namespace drl::daemon
