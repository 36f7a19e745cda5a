// drld's side of a hard limit's rights_wait_max: a thread that answers checks (a socket worker,
// the HTTP endpoint) whose check was denied for want of rights on this node, with a wait allowed,
// asks its peers for rights at once and blocks here, by the rule of core/rights_waits.hpp (the
// simulator's too), until it looks again. The cluster driver's thread wakes it when an answer to
// a request of this node was merged. Like the start-up hold, a wait holds its thread.
//
// A key's first check through key owners waits here too, for the owners' totals
// (core/totals_requests.hpp): woken when a totals message was merged, and decided at its last
// look with what the node knows.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "core/check_engine.hpp"
#include "core/rights_ledger.hpp"
#include "core/rights_waits.hpp"
#include "core/totals_requests.hpp"

namespace drl::daemon {

class RightsWait {
 public:
  // `send_now` makes the cluster send the ledger's requests and those for totals at once (any
  // thread).
  // Keys' first checks wait for totals on at most half the `workers` (at least one) at a time.
  RightsWait(const core::RightsLedger& ledger, const core::TotalsRequests& totals,
             std::size_t workers, std::function<void()> send_now);

  // engine.check(); then, while the check waits for a grant or for totals (core::RightsWaits),
  // sends this node's requests, blocks until it looks again, and checks again. `now` is the time
  // of the check; the time of the last one on return.
  void check(core::CheckEngine& engine, const core::PolicySet& policies,
             std::span<const core::CheckItem> items, core::CheckOutcome& outcome,
             core::WallTime& now);

  // The cluster driver's thread, after each datagram: wakes the waiting threads if an answer
  // (a grant, totals) was merged.
  void on_datagram();

  core::RightsWaitStats stats() const { return waits_.stats(); }

 private:
  // Answers of both kinds merged so far: a waiting check looks again when it moves.
  std::uint64_t answers() const { return ledger_.answers_merged() + totals_.answers(); }

  const core::RightsLedger& ledger_;
  const core::TotalsRequests& totals_;
  std::function<void()> send_now_;
  std::mutex mutex_;
  std::condition_variable answered_;
  core::RightsWaits waits_;
};

}  // namespace drl::daemon
