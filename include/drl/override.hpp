// Runtime overrides of limits and load signals, as the client protocol carries them
// (docs/protocol.md, ops override_set / override_list / override_clear / key_reset / report;
// docs/dynamic-limits.md for what they do).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace drl {

// Which limits an override applies to. Empty tier / endpoint / key and window_ms 0 mean
// "every". For a key reset: the check whose counters are reset (policy and key required, tier
// and endpoint as the check names them, no window).
struct OverrideScopeSpec {
  std::string policy;           // required
  std::string tier;             // "" : every tier
  std::string endpoint;         // "" : every limit of the policy; else that endpoint's limits
  std::uint64_t window_ms = 0;  // 0: every window; else only the limit with that window
  std::string key;              // "" : every key; else that key only
};

// What `drl override set` asks for: exactly one of limit, factor_permille and block (block
// needs a key).
struct OverrideSpec {
  OverrideScopeSpec scope;             // a key is at most 256 bytes (a check's may have 1024)
  std::optional<std::uint64_t> limit;  // the limit in force, 1 to 2^32-1
  std::optional<std::uint64_t> factor_permille;  // or the configured limit times this / 1000
                                                 // (1 to 100000)
  bool block = false;                            // or deny every check of scope.key
  // Required: how long it stays in force, 1 ms to 7 days; then it expires by itself.
  std::uint64_t ttl_ms = 0;
  std::string reason;  // for `drl override list` and the logs, at most 256 bytes
};

// What a key reset forgot of one of the key's counters.
struct ForgottenCount {
  std::string endpoint;         // "" : a policy-wide limit; else the endpoint's (as configured)
  std::uint64_t window_ms = 0;  // the limit's window
  std::uint64_t limit = 0;      // the limit in force at the reset
  // What checks of the key had counted in the current window (earlier resets left out), and
  // no longer count.
  std::uint64_t count = 0;
};

// One override record as a node holds it, or a key reset.
struct OverrideInfo {
  OverrideScopeSpec scope;
  std::string kind;         // "limit", "factor", "block" or "reset"
  std::uint64_t value = 0;  // the limit, or the factor in thousandths
  // Only in the answer of Client::key_reset: what the reset forgot, per counter of the key.
  std::vector<ForgottenCount> forgotten;
  std::int64_t expires_wall_ms = 0;  // Unix ms
  std::uint64_t remaining_ms = 0;    // until it expires, as the node answering saw it
  std::string reason;
  std::string set_by;  // the node id that wrote it
  std::int64_t set_wall_ms = 0;
  // Its hybrid logical clock stamp: the newer stamp wins, cluster-wide.
  std::int64_t stamp_wall_ms = 0;
  std::uint64_t stamp_logical = 0;
};

}  // namespace drl
