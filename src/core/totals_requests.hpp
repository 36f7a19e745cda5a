// A key's first check on a node, through key owners (docs/replication.md, "A key's first
// check"). A node that has not counted a key in the windows a check reads, and has not heard its
// owners' totals for the current window, knows nothing of what the other nodes counted there:
// the owners tell their totals only to the nodes that count the key. Rather than decide blind,
// the check asks the owners at once and waits, up to [cluster] totals_wait_max, for their answer
// (the rule of core/rights_waits.hpp, as a hard limit's check waits for a grant).
//
// Checks want (counter, window) requests here; the replication thread takes them, sends them to
// each key's owners, and counts each totals message it merges as an answer, which wakes the
// waiting checks. The replication thread also says how long a check may wait: 0 (never) unless
// counts travel through owners.
//
// Thread-safe: checks call want() under their counter's store shard lock, so the mutex here is
// taken after a shard lock, never before one.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/time.hpp"

namespace drl::core {

struct TotalsWant {
  std::uint64_t counter_id = 0;
  std::uint64_t window_ms = 0;
};

class TotalsRequests {
 public:
  // How long a key's first check may wait for its owners' totals: 0 (the default) in the mesh,
  // where every node hears every count without asking. Set by the replication thread.
  void set_wait_ms(std::uint64_t wait_ms) { wait_ms_.store(wait_ms, std::memory_order_release); }
  std::uint64_t wait_ms() const { return wait_ms_.load(std::memory_order_acquire); }

  // A check at `now` waits for `counter_id`'s totals: a request goes out at the next send,
  // unless one was wanted for the same window less than wait_ms() ago (it is on its way, or its
  // answer: the checks woken by other keys' answers do not ask again). False without room
  // (bounds::totals_wants_max requests within wait_ms(), counted): the check is then decided
  // without them.
  bool want(std::uint64_t counter_id, std::uint64_t window_ms, WallTime now);
  // The requests waiting, at most `max` (the others stay for the next send); forgets those
  // wanted wait_ms() before `now` or earlier.
  std::vector<TotalsWant> take(std::size_t max, WallTime now);

  // The replication thread merged a totals message: waiting checks look again.
  void answered() { answers_.fetch_add(1, std::memory_order_seq_cst); }
  // Sequentially consistent, as RightsLedger::answers_merged(): a waiter adds itself then reads
  // this, the replication thread adds an answer then reads the waiters; one sees the other.
  std::uint64_t answers() const { return answers_.load(std::memory_order_seq_cst); }

  // Requests refused: bounds::totals_wants_max keys had been asked for within wait_ms().
  std::uint64_t wants_refused() const { return wants_refused_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> wait_ms_{0};
  std::atomic<std::uint64_t> answers_{0};
  std::atomic<std::uint64_t> wants_refused_{0};
  struct Asked {
    std::int64_t at_unix_ms = 0;
    std::uint64_t window_id = 0;
  };
  std::mutex mutex_;
  std::vector<TotalsWant> wants_;                   // guarded by mutex_, in the order wanted
  std::unordered_map<std::uint64_t, Asked> asked_;  // guarded by mutex_: by counter id
  // Guarded by mutex_: asked_'s requests in the order made (a key asked again has a later
  // record too), so that take() forgets the old ones without walking all of asked_ each time.
  struct Made {
    std::int64_t at_unix_ms = 0;
    std::uint64_t counter_id = 0;
  };
  std::deque<Made> made_;
};

}  // namespace drl::core
