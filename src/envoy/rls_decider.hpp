// Envoy's ShouldRateLimit, decided: a RateLimitRequest's descriptors matched against the rules in
// force (rls_policies.hpp), counted through core::CheckEngine (so on the same store, and the same
// replication, as every other interface), answered as envoyproxy/ratelimit answers.
//
// One difference, on purpose (drl's rule: a denied request is not counted): the descriptors of a
// request that a limit applies to are ONE compound check. The request is admitted only if every
// limit admits it, and only then is any of them counted; envoyproxy/ratelimit increments every
// descriptor's count, the ones over their limit too. So a client that keeps being denied by a
// narrow limit does not use up a wider one. Consequences, all in docs/integration.md#envoy:
//   - at most bounds::envoy_limited_descriptors_max (8) descriptors of one request may have a
//     limit (the core's items_per_check_max); more is an error for the request (Errc::
//     too_many_items), counted, rather than a split into checks that could count a part of a
//     request denied by another part;
//   - shadow_mode descriptors never deny and are counted only when the request is admitted and
//     they would have admitted it themselves (envoyproxy/ratelimit counts them always);
//   - a descriptor whose hits_addend is above its limit, or whose limit is 0, can never be
//     admitted: it is OVER_LIMIT (OK in shadow mode) without being counted, and the others are
//     only looked at (cost 0), so nothing of a denied request is counted.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/check_engine.hpp"
#include "core/time.hpp"
#include "drl/result.hpp"
#include "envoy/rls_counters.hpp"
#include "envoy/rls_policies.hpp"
#include "envoy/rls_types.hpp"

namespace drl::envoy {

struct RlsDeciderOptions {
  // The IETF fields drl's HTTP endpoint writes (RateLimit-Policy and RateLimit, one item per
  // limit of the request; wire/ratelimit_fields.hpp), in response_headers_to_add.
  bool ietf_headers = false;
  // envoyproxy/ratelimit's LIMIT_RESPONSE_HEADERS_ENABLED: the limit, remaining and reset (whole
  // seconds, rounded up) of the descriptor closest to its limit (an over-limit one if any), in
  // response_headers_to_add, under these names (envoyproxy/ratelimit's LIMIT_LIMIT_HEADER, ...).
  bool x_ratelimit_headers = false;
  std::string limit_header = "X-RateLimit-Limit";
  std::string remaining_header = "X-RateLimit-Remaining";
  std::string reset_header = "X-RateLimit-Reset";
};

class RlsDecider {
 public:
  // `engine` (and its store) outlive the decider.
  explicit RlsDecider(const core::CheckEngine& engine, RlsDeciderOptions options = {});

  // Puts `rules` in force for the requests that start from now on (a request in progress ends
  // with the rules it started with). Policies of the same name count on the same counters, so a
  // reload keeps the counts of every descriptor it keeps. Thread-safe.
  void set_rules(std::shared_ptr<const RlsRules> rules);
  std::shared_ptr<const RlsRules> rules() const;

  // Decides `request` at wall time `now` into `response` (overwritten). Errors (the request is
  // malformed, beyond a bound, or names a limit override drl cannot count; or no rules are in
  // force) leave `response` unspecified and count nothing; envoyproxy/ratelimit answers those with
  // a gRPC error too. Thread-safe.
  Result<Done> decide(core::WallTime now, const RlsRequest& request, RlsResponse& response) const;

  RlsCounters& counters() const { return counters_; }

 private:
  struct State {
    std::shared_ptr<const RlsRules> rules;
    core::StringMap<std::uint32_t> counter_ids;  // domain name -> RlsCounters id
  };

  std::shared_ptr<const State> state() const;

  const core::CheckEngine& engine_;
  RlsDeciderOptions options_;
  mutable RlsCounters counters_;
  mutable std::mutex mutex_;
  std::shared_ptr<const State> state_;
};

}  // namespace drl::envoy
