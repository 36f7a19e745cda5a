// What a check asks and what it is told. Shared by the socket client and the embedded limiter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace drl {

// One (policy, key) to count. A check made of several items is admitted only if every
// limit of every item admits it, and only then are all of them incremented.
// The views must stay valid for the duration of the call that takes them.
struct CheckRequest {
  std::string_view policy;
  std::string_view key;            // who is counted: user id, IP, API key, ... (not empty)
  std::uint32_t cost = 1;          // 0 is a peek: answers without counting
  std::string_view tier = {};      // selects the tier's limits; empty or unknown: the defaults
  std::string_view endpoint = {};  // adds the endpoint's own limits, counted per endpoint
};

// The state of one limit after the check.
struct LimitDecision {
  std::string policy;
  std::string scope;      // empty for policy-wide limits, else the endpoint name
  std::string algorithm;  // "sliding" or "fixed"
  std::uint64_t limit = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t remaining = 0;
  std::uint64_t reset_after_ms = 0;
  std::uint64_t retry_after_ms = 0;
  bool allowed = false;
  bool shadow = false;  // the limit's policy is in shadow mode
  // "hard": the limit's policy has enforcement = "hard", decided by this node's rights;
  // "approximate" otherwise.
  std::string enforcement = "approximate";
  // Set only when a runtime override or a load-adaptive factor changed this limit: what the
  // configuration says, and why the limit in force differs ("override ... by node1: reason").
  std::uint64_t configured_limit = 0;
  std::string adjusted;
};

struct Decision {
  bool allowed = false;        // the answer to enforce
  bool shadow_denied = false;  // allowed only because a shadow-mode policy does not enforce
  // Of the binding limit: the one with the least remaining (or, when denied, the longest wait).
  std::uint64_t limit = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t remaining = 0;
  std::uint64_t reset_after_ms = 0;  // until remaining is back to limit, without new traffic
  std::uint64_t retry_after_ms = 0;  // 0 when allowed; else until the same check would pass
  // In a cluster: how long ago the least recently heard peer was heard, i.e. how old the
  // oldest contribution to this decision may be. 0 for a single node.
  std::uint64_t staleness_ms = 0;
  std::string policy;         // of the binding limit
  std::string scope;          // of the binding limit: empty, or the endpoint
  bool tier_unknown = false;  // the tier named is not defined: the default limits applied
  // Of the binding limit: "hard" (enforcement = "hard": never over the limit, decided by this
  // node's rights) or "approximate".
  std::string enforcement = "approximate";
  // Of the binding limit, set only when it is adjusted (see LimitDecision).
  std::uint64_t configured_limit = 0;
  std::string adjusted;
  std::vector<LimitDecision> limits;  // every limit that applied (filled when asked for)
};

}  // namespace drl
