// A check, start to finish: resolve the limits, read the counters under their shard locks,
// decide, and count only what is admitted.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/algorithm.hpp"
#include "core/bounds.hpp"
#include "core/counter_store.hpp"
#include "core/policy.hpp"
#include "core/rights_ledger.hpp"
#include "core/time.hpp"
#include "core/totals_requests.hpp"
#include "drl/error.hpp"

namespace drl::core {

struct CheckItem {
  std::string_view policy;
  std::string_view key;
  std::string_view tier;
  std::string_view endpoint;
  std::uint64_t cost = 1;
  // 0: none. Else the limit of every rule this item resolves to, for this check only, in
  // [1, bounds::limit_max] (Envoy's per-descriptor `limit`, src/envoy/). The counters stay the
  // rules' own: an override changes what a count is compared with, never the count.
  std::uint64_t limit_override = 0;
};

// What the replication tells the check path, published by the replication's thread.
struct ClusterSignals {
  // Under the proportional partition policy, limits are scaled by the share of the cluster
  // this node can reach, in thousandths (1000 when every peer is reachable).
  std::atomic<bool> proportional{false};
  std::atomic<std::uint32_t> reachable_permille{1000};
  // How long ago the least recently heard live peer was heard (0 for a single node).
  std::atomic<std::int64_t> staleness_ms{0};
};

struct LimitOutcome {
  const Policy* policy = nullptr;
  const LimitRule* rule = nullptr;
  std::string_view scope;
  // In force: the rule's, or the key override's, or scaled down by the partition policy.
  std::uint64_t limit = 0;
  // What no cost may exceed: the rule's configured limit, or the item's limit_override, or a
  // key override's limit if it is larger.
  std::uint64_t configured_limit = 0;
  std::uint64_t counter_id = 0;
  // Why `limit` differs from the configured one: the rule's adjustment, or a key override's
  // (PolicySet::adjustment_note); 0: it does not.
  std::uint32_t adjustment = 0;
  // Nonzero: a key override blocks this key until then (`limit` is 0).
  std::int64_t blocked_until_wall_ms = 0;
  // Nonzero: a runtime override (the policy's or the key's) sets `limit` until then; a cost
  // above it waits at least that long.
  std::int64_t override_until_wall_ms = 0;
  // The key's overrides and resets in the policy set in force, or null.
  const KeyControl* key_control = nullptr;
  std::uint64_t cost = 0;  // summed over items that share this counter
  // A hard limit (enforcement = "hard") is decided against this node's rights in the window the
  // check counts in (window_id), not against the cluster's estimate: own_count is what this
  // node admitted there before the check. All three are 0 for an approximate limit.
  std::uint64_t rights = 0;
  std::uint64_t own_count = 0;
  std::uint64_t window_id = 0;
  // A hard limit denied for want of rights here while the cluster's counts had room for the
  // check: the price of hard limits (a false reject an approximate limit would not make).
  bool short_of_rights = false;
  // A request for rights for this limit's window is on its way or about to be (so waiting for a
  // grant may help): not once every peer in turn had nothing to spare.
  bool rights_coming = false;
  LimitVerdict verdict;  // remaining/reset include cost only if the check was admitted
  bool admits = false;   // this limit alone would admit the check
};

// Why `limit`'s limit in force differs from the configured one, as answers say it: its
// adjustment's note, and when a key override sits on a policy override or an adaptive factor,
// that one's too (a key factor multiplies it). "" if not adjusted.
std::string adjustment_text(const LimitOutcome& limit, const PolicySet& policies);

// Views into the PolicySet passed to check(): valid while that set is.
struct CheckOutcome {
  Errc error = Errc::ok;
  std::string error_message;  // set only on error
  bool allowed = false;
  bool shadow_denied = false;
  bool tier_unknown = false;
  // Denied by a hard limit short of rights on this node while the cluster had room
  // (LimitOutcome::short_of_rights of the binding limit).
  bool denied_without_rights = false;
  // Denied without rights, and the binding limit's policy lets the check wait this long for a
  // grant (its rights_wait_max); 0 otherwise. The request for rights is already in the ledger.
  std::uint64_t rights_wait_ms = 0;
  // Nonzero: the check was not decided (nothing counted, `allowed` false, no verdicts): through
  // key owners, this node has not heard what the others counted of one of its keys, and the
  // check may wait this long (the node's totals_wait_max) for the owners' answer, asked for
  // already (core/totals_requests.hpp). The caller looks again when an answer comes, and then
  // decides with may_wait_for_totals false once its wait is over.
  std::uint64_t totals_wait_ms = 0;
  std::int64_t staleness_ms = 0;  // see ClusterSignals
  std::size_t binding = 0;        // index into limits of the limit that decided
  std::size_t limit_count = 0;
  std::array<LimitOutcome, bounds::limits_per_check_max> limits;

  const LimitOutcome& binding_limit() const { return limits[binding]; }
};

// One counter a key reset forgets.
struct ResetTarget {
  ResetMark mark;           // what every node subtracts
  std::string endpoint;     // of the counter's limit: "" for a policy-wide limit
  std::uint64_t limit = 0;  // in force when the reset was made
  // What checks of the key saw counted in the current window just before the reset (earlier
  // resets left out): what this reset forgets there.
  std::uint64_t counted = 0;
};

// One counter of a key, as `drl inspect` shows it.
struct InspectedCounter {
  LimitOutcome limit;           // verdict of a cost-0 peek
  CounterView view;             // cluster-wide totals, as checks read them
  WindowCounts forgotten;       // what key resets in force leave out of the origins' sums
  std::uint64_t window_id = 0;  // of the window that holds now
  std::vector<OriginCounts> origins;
};

class CheckEngine {
 public:
  // `local_origin` is this node's origin index in the store.
  // `signals` may be null (a single node): limits are never scaled.
  CheckEngine(CounterStore& store, std::uint32_t local_origin,
              const ClusterSignals* signals = nullptr)
      : store_(store), local_origin_(local_origin), signals_(signals) {}

  // Decides `items` as one check at wall time `now`. Thread-safe: concurrent checks on keys in
  // different shards do not wait on each other. `may_wait_for_totals`: the caller can hold the
  // check for its keys' owners' totals (CheckOutcome::totals_wait_ms); without it, a key's
  // first check through owners is decided on what this node knows.
  void check(const PolicySet& policies, WallTime now, std::span<const CheckItem> items,
             CheckOutcome& out, bool may_wait_for_totals = false) const;

  // What a reset of `item`'s key forgets: each counter of the key that `item` names, with the
  // totals seen now (before earlier resets: a mark holds totals). An empty tier names every
  // tier's counters, an empty endpoint every endpoint's counters the key has counted in (and
  // the policy-wide ones). Counts nothing. Returns the errors of check(), and invalid_argument
  // for a tier or endpoint the policy does not define, with `error_message` set.
  Errc reset_targets(const PolicySet& policies, WallTime now, const CheckItem& item,
                     std::vector<ResetTarget>& out, std::string& error_message) const;

  // Every counter `item` resolves to, with each origin's slots. Counts nothing. Returns
  // Errc::ok or the same errors as check(), with `error_message` set.
  Errc inspect(const PolicySet& policies, WallTime now, const CheckItem& item,
               std::vector<InspectedCounter>& out, std::string& error_message) const;

  void set_local_origin(std::uint32_t origin) { local_origin_ = origin; }
  // The rights of hard limits (rights_ledger.hpp): this node's share of each window and what
  // moved between nodes. Set before the first check; null (the default), this node holds every
  // right of every window.
  void set_rights(RightsLedger* ledger) { rights_ = ledger != nullptr ? ledger : &sole_rights_; }
  // Where a key's first check through owners asks for their totals. Set before the first check;
  // null (the default): no check waits for them.
  void set_totals_requests(TotalsRequests* requests) { totals_ = requests; }

 private:
  // Through key owners, asks for the totals of the check's keys this node has not heard of
  // (CounterStore::Locked::heard_from_owners); true if it did: the check waits
  // (out.totals_wait_ms set).
  bool ask_for_totals(const CounterStore::Locked& locked, WallTime now, CheckOutcome& out) const;

  // Decides `peek` (a cost-0 item) and calls visit(limit, locked) for each counter it resolves
  // to, with their shards locked; or returns the check's error.
  template <class Visit>
  Errc peek_locked(const PolicySet& policies, WallTime now, const CheckItem& peek,
                   std::string& error_message, Visit visit) const;

  CounterStore& store_;
  std::uint32_t local_origin_;
  const ClusterSignals* signals_;
  // The ledger of a node that is the only member (every right of every window is its own),
  // until set_rights names another: checks need not test for none.
  RightsLedger sole_rights_;
  RightsLedger* rights_ = &sole_rights_;
  TotalsRequests* totals_ = nullptr;
};

}  // namespace drl::core
