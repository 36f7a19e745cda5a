// Policies as the limiter uses them: immutable once built, shared by all threads.
//
// A check names a policy, and optionally a tier and an endpoint. The limits that apply are:
//   - the policy-wide set: the tier's set if the policy defines that tier, else the defaults;
//   - plus, if the policy defines that endpoint, the endpoint's set (again the tier's set if the
//     endpoint defines the tier, else the endpoint's defaults), counted per endpoint. An endpoint
//     name ending in '*' is a prefix: it applies to every endpoint that starts with the rest
//     (the longest matching prefix wins; an exact name wins over any prefix), and all of them
//     share its counters.
// Every limit that applies must admit the check. Tiers change limits, not counters: a caller
// who moves from one tier to another keeps its count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/algorithm.hpp"
#include "core/bounds.hpp"
#include "core/hard_rights.hpp"
#include "core/override_table.hpp"

namespace drl::core {

// FNV-1a: names are short, and this is on every check (std::hash costs five times more here).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const {
    std::uint64_t hash = 0xcbf29ce484222325ULL;
    for (char c : text) hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return static_cast<std::size_t>(hash);
  }
};

template <class T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

struct LimitRule {
  std::uint64_t limit = 0;      // in [1, bounds::limit_max]
  std::uint64_t window_ms = 0;  // bounds::window_ms_valid
  Algorithm algorithm = Algorithm::sliding;
  std::uint64_t counter_seed = 0;  // see counter_id.hpp
  // What the configuration says. `limit` differs from it only in a policy set derived by
  // adjust_policies (limit_adjuster.hpp): a runtime override or a load-adaptive factor.
  std::uint64_t configured_limit = 0;
  std::uint32_t adjustment = 0;  // 0: none; else PolicySet::adjustment_note(adjustment)
  // Nonzero: a runtime override sets `limit` until then (an adaptive factor has no end).
  std::int64_t override_until_wall_ms = 0;
};

// At most bounds::limits_per_set_max rules, with distinct windows.
struct LimitSet {
  std::vector<LimitRule> rules;
};

struct EndpointLimits {
  std::string name;
  LimitSet defaults;
  StringMap<LimitSet> tiers;
};

// The load signals an adaptive law may follow: drld's main loop lag, the host's CPU, or a value
// applications report under a name ("reported:NAME").
inline constexpr std::string_view signal_loop_lag_ms = "loop_lag_ms";
inline constexpr std::string_view signal_cpu_percent = "cpu_percent";
inline constexpr std::string_view signal_reported_prefix = "reported:";

// [policy.adaptive]: the limits of the policy scale with a load signal (adaptive_controller.hpp).
struct AdaptiveLaw {
  // "loop_lag_ms" (drld's event loop), "cpu_percent" (the host's CPU), or "reported:NAME" (a
  // value the application reports with `drl report NAME VALUE`).
  std::string signal;
  double target = 0;                      // at or below this smoothed value: factor 1
  double floor_at = 0;                    // at or above this (> target): the floor
  std::uint32_t floor_permille = 250;     // the smallest factor, in thousandths (1..1000)
  std::int64_t smoothing_ms = 2000;       // time constant of the signal's moving average
  std::int64_t recover_ms = 10'000;       // at least this long from the floor back to 1
  std::int64_t signal_stale_ms = 10'000;  // a reported signal older than this counts as absent
};

// A key-scoped override in force (limit_adjuster.hpp), as a check reads it.
struct KeyOverride {
  std::string tier;             // "" : every tier
  std::string endpoint;         // "" : every limit of the policy; else that endpoint's limits
  std::uint64_t window_ms = 0;  // 0: every window
  OverrideKind kind = OverrideKind::limit;  // limit, factor or block
  std::uint64_t value = 0;                  // limit, or factor in thousandths
  std::int64_t expires_wall_ms = 0;
  std::uint32_t adjustment = 0;  // PolicySet::adjustment_note: why, by whom, until when
};

// What operators set for one key of a policy: looked up once per check item, and only in a
// policy that has any.
struct KeyControl {
  std::vector<KeyOverride> overrides;  // most specific first, then newest first
  std::vector<ResetMark> resets;
};

// The first of `control`'s overrides that applies to a limit of `window_ms` in `endpoint`
// ("" for the policy-wide limits) for a check of `tier`, or null.
const KeyOverride* find_key_override(const KeyControl& control, std::string_view tier,
                                     std::string_view endpoint, std::uint64_t window_ms);

// `counts` (of window `window_id` and the one before) less what the resets of `control` forgot of
// counter `counter_id`.
void forget_reset_counts(const KeyControl& control, std::uint64_t counter_id,
                         std::uint64_t window_ms, std::uint64_t window_id, WindowCounts& counts);

struct Policy {
  std::string name;
  bool shadow = false;  // count and report, never deny
  // approximate: the cluster's estimate decides; hard: this node's rights (hard_rights.hpp),
  // for fixed windows only.
  Enforcement enforcement = Enforcement::approximate;
  // Hard limits: how long a check denied for want of rights on this node may wait for a grant
  // before it is answered (0: denied at once).
  std::uint64_t rights_wait_max_ms = 0;
  bool adaptive_enabled = false;
  AdaptiveLaw adaptive;
  LimitSet defaults;
  StringMap<LimitSet> tiers;
  StringMap<EndpointLimits> endpoints;
  StringMap<bool> tier_names;  // every tier defined anywhere in the policy
  // The endpoints whose name ends in '*', longest first (pointers into `endpoints`).
  std::vector<const EndpointLimits*> prefix_endpoints;
  // Key-scoped overrides and resets in force, by key (empty in a configured set).
  StringMap<KeyControl> keys;
  // How the HTTP decision endpoint finds this policy's check in a request ([policy.http]).
  // Each list names sources tried in order: "query:NAME", "header:NAME", "header-first:NAME"
  // (the first comma-separated element, e.g. the client of X-Forwarded-For), "remote_addr".
  struct HttpMapping {
    std::vector<std::string> key{"query:key", "header:X-Drl-Key"};
    std::vector<std::string> tier{"query:tier", "header:X-Drl-Tier"};
    std::vector<std::string> endpoint{"query:endpoint", "header:X-Drl-Endpoint"};
    std::vector<std::string> method;  // if found, prefixes the endpoint: "POST /login"
    std::vector<std::string> cost{"query:cost", "header:X-Drl-Cost"};
  } http;
};

// Fills policy.prefix_endpoints from policy.endpoints (after building or copying a policy: the
// pointers are into its own map).
void index_prefix_endpoints(Policy& policy);

// Calls visit(rule, where) for every limit rule of `policy`: its defaults, tiers, endpoints and
// their tiers; `where` is "" or " of tier 'T'", " of endpoint 'E'", " of endpoint 'E' tier 'T'".
template <class Visit>
void for_each_rule(const Policy& policy, Visit visit) {
  const auto each = [&](const LimitSet& set, const std::string& where) {
    for (const LimitRule& rule : set.rules) visit(rule, where);
  };
  each(policy.defaults, "");
  for (const auto& [tier, set] : policy.tiers) each(set, " of tier '" + tier + "'");
  for (const auto& [name, endpoint] : policy.endpoints) {
    each(endpoint.defaults, " of endpoint '" + name + "'");
    for (const auto& [tier, set] : endpoint.tiers) {
      each(set, " of endpoint '" + name + "' tier '" + tier + "'");
    }
  }
}

// The endpoint limits that apply to `endpoint`, or null.
const EndpointLimits* find_endpoint(const Policy& policy, std::string_view endpoint);

struct ResolvedLimit {
  const Policy* policy = nullptr;
  const LimitRule* rule = nullptr;
  std::string_view scope;  // "" or the endpoint name
};

class PolicySet {
 public:
  PolicySet() = default;
  explicit PolicySet(std::vector<Policy> policies);

  const Policy* find(std::string_view name) const;
  // "unknown policy 'apii' (policies: api, login)": what a caller that named no policy of this
  // set is told, with the names it may have meant (in the config's order, at most 8).
  std::string unknown_policy_message(std::string_view asked) const;
  const std::vector<Policy>& policies() const { return policies_; }
  std::vector<Policy>& mutable_policies() { return policies_; }

  // Why a rule's limit differs from its configured one (LimitRule::adjustment, from 1).
  std::string_view adjustment_note(std::uint32_t adjustment) const {
    return adjustment == 0 || adjustment > adjustment_notes_.size()
               ? std::string_view()
               : std::string_view(adjustment_notes_[adjustment - 1]);
  }
  std::uint32_t add_adjustment_note(std::string note) {
    adjustment_notes_.push_back(std::move(note));
    return static_cast<std::uint32_t>(adjustment_notes_.size());
  }

 private:
  std::vector<Policy> policies_;
  std::vector<std::string> adjustment_notes_;
  StringMap<std::size_t> by_name_;
};

struct Resolution {
  std::size_t count = 0;
  bool tier_unknown = false;  // a tier was named that the policy does not define
};

// Constructs the limits that apply in `out` (room for bounds::limits_per_item_max; it may be
// uninitialised storage).
Resolution resolve(const Policy& policy, std::string_view tier, std::string_view endpoint,
                   ResolvedLimit* out);

}  // namespace drl::core
