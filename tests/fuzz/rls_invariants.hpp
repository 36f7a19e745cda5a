// What Envoy's rate limit service promises for one decided request, checked by the rls_request
// and rls_config harnesses (docs/security.md, "Fuzzing"). The expectations come from the rules'
// own matching (RlsRules::match), the request and the documented behaviour of RlsDecider
// (src/envoy/rls_decider.hpp), never from the decider's internals:
//  - decide() fails only for a known domain whose request names a limit override of a unit drl
//    cannot count, or has more than bounds::envoy_limited_descriptors_max descriptors that may
//    have a limit; a failure counts nothing;
//  - one status per descriptor, each OK or OVER_LIMIT; the overall code is OVER_LIMIT exactly
//    when a status is; a shadow_mode descriptor is never OVER_LIMIT;
//  - a descriptor that matches nothing (or whose limit another one `replaces`) has no limit; an
//    unlimited one has remaining 2^32 - 1; an override reports the override; a configured limit
//    reports one of its descriptor's limits, by name;
//  - remaining never above the limit reported, the reset within the longest window, and
//    remaining never growing between two decisions at the same instant;
//  - in a store that has counted nothing, OVER_LIMIT only if the request's cost is above the
//    limit reported; a limit of 0 or a cost above the limit is always OVER_LIMIT (not in shadow
//    mode);
//  - a denied request changes no count of the store; an admitted one adds at most its costs to
//    each counter, and adds something if it has a limited non-shadow descriptor with a cost;
//  - the decider's metrics move by one request and one per descriptor, by code;
//  - the response headers are there when a limit is, and the response survives protobuf.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "core/bounds.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "core/time.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_counters.hpp"
#include "envoy/rls_decider.hpp"
#include "envoy/rls_policies.hpp"
#include "envoy/rls_proto_codec.hpp"
#include "envoy/rls_types.hpp"
#include "fuzz_assert.hpp"

namespace drl::fuzz {

// FUZZ_ASSERT, after printing the request and the answer: what a failure report needs.
#define RLS_CHECK(condition)  \
  do {                        \
    if (!(condition)) dump(); \
    FUZZ_ASSERT(condition);   \
  } while (false)

inline constexpr std::uint32_t kRemainingUnlimited = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::uint64_t kLongestWindowMs = 366ULL * 24 * 3600 * 1000;

inline bool same_request(const envoy::RlsRequest& a, const envoy::RlsRequest& b) {
  if (a.domain != b.domain || a.hits_addend != b.hits_addend ||
      a.descriptors.size() != b.descriptors.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.descriptors.size(); ++i) {
    const envoy::RlsDescriptor& x = a.descriptors[i];
    const envoy::RlsDescriptor& y = b.descriptors[i];
    if (x.entries.size() != y.entries.size() || x.hits_addend != y.hits_addend ||
        x.limit.has_value() != y.limit.has_value()) {
      return false;
    }
    if (x.limit && (x.limit->requests_per_unit != y.limit->requests_per_unit ||
                    x.limit->unit != y.limit->unit)) {
      return false;
    }
    for (std::size_t e = 0; e < x.entries.size(); ++e) {
      if (x.entries[e].key != y.entries[e].key || x.entries[e].value != y.entries[e].value) {
        return false;
      }
    }
  }
  return true;
}

inline bool same_response(const envoy::RlsResponse& a, const envoy::RlsResponse& b) {
  if (a.overall_code != b.overall_code || a.statuses.size() != b.statuses.size() ||
      a.response_headers_to_add != b.response_headers_to_add) {
    return false;
  }
  for (std::size_t i = 0; i < a.statuses.size(); ++i) {
    const envoy::RlsDescriptorStatus& x = a.statuses[i];
    const envoy::RlsDescriptorStatus& y = b.statuses[i];
    if (x.code != y.code || x.limit_remaining != y.limit_remaining ||
        x.duration_until_reset_ms != y.duration_until_reset_ms ||
        x.current_limit.has_value() != y.current_limit.has_value()) {
      return false;
    }
    if (x.current_limit &&
        (x.current_limit->name != y.current_limit->name ||
         x.current_limit->requests_per_unit != y.current_limit->requests_per_unit ||
         x.current_limit->unit != y.current_limit->unit)) {
      return false;
    }
  }
  return true;
}

// Every nonzero slot of the store, sorted: what "counted nothing" is checked against.
inline std::vector<core::SlotUpdate> store_slots(core::CounterStore& store, core::WallTime now) {
  std::vector<core::SlotUpdate> out;
  core::SweepCursor cursor;
  do {
    store.collect_all(now, cursor, out, 4096);
  } while (!cursor.completed);
  std::sort(out.begin(), out.end(), [](const core::SlotUpdate& a, const core::SlotUpdate& b) {
    return std::tie(a.counter_id, a.window_ms, a.window_id, a.origin) <
           std::tie(b.counter_id, b.window_ms, b.window_id, b.origin);
  });
  return out;
}

inline std::uint64_t total_of(const std::vector<core::SlotUpdate>& slots) {
  std::uint64_t total = 0;
  for (const core::SlotUpdate& slot : slots) total += slot.count;
  return total;
}

// Every slot of `after` is at least its count in `before` and at most `most` above it.
inline void check_growth(const std::vector<core::SlotUpdate>& before,
                         const std::vector<core::SlotUpdate>& after, std::uint64_t most) {
  const auto same_slot = [](const core::SlotUpdate& a, const core::SlotUpdate& b) {
    return a.counter_id == b.counter_id && a.window_ms == b.window_ms &&
           a.window_id == b.window_id && a.origin == b.origin;
  };
  for (const core::SlotUpdate& slot : before) {
    const auto found = std::find_if(after.begin(), after.end(),
                                    [&](const core::SlotUpdate& s) { return same_slot(s, slot); });
    FUZZ_ASSERT(found != after.end());  // no count disappears at the same instant
    FUZZ_ASSERT(found->count >= slot.count && found->count - slot.count <= most);
  }
  for (const core::SlotUpdate& slot : after) {
    const bool old = std::any_of(before.begin(), before.end(),
                                 [&](const core::SlotUpdate& s) { return same_slot(s, slot); });
    if (!old) FUZZ_ASSERT(slot.count <= most);
  }
}

// The decider's metrics, summed over every domain bucket.
inline envoy::RlsCountsSample metric_totals(const envoy::RlsCounters& counters) {
  envoy::RlsCountsSample sum;
  for (const envoy::RlsCounters::DomainSample& sample : counters.domains()) {
    sum.requests_ok += sample.counts.requests_ok;
    sum.requests_over_limit += sample.counts.requests_over_limit;
    sum.descriptors_ok += sample.counts.descriptors_ok;
    sum.descriptors_over_limit += sample.counts.descriptors_over_limit;
    sum.descriptors_shadow_over_limit += sample.counts.descriptors_shadow_over_limit;
    sum.descriptors_unlimited += sample.counts.descriptors_unlimited;
    sum.descriptors_no_limit += sample.counts.descriptors_no_limit;
  }
  return sum;
}

inline std::optional<std::uint64_t> header_number(const envoy::RlsResponse& response,
                                                  std::string_view name) {
  std::optional<std::uint64_t> out;
  for (const auto& [key, value] : response.response_headers_to_add) {
    if (key != name) continue;
    FUZZ_ASSERT(!out);  // at most once
    FUZZ_ASSERT(!value.empty() && value.size() <= 20 &&
                value.find_first_not_of("0123456789") == std::string::npos);
    out = std::stoull(value);
  }
  return out;
}

// What the rules say about one request descriptor, before any count.
struct Expected {
  const envoy::RlsRuleNode* node = nullptr;  // matched (no override)
  bool override_limit = false;               // the descriptor carries a limit override
  bool override_unit_known = false;
  bool limited = false;  // a limit applies: it must report current_limit
  bool shadow = false;
  std::uint64_t cost = 1;
};

// A real store and check engine behind a decider with both kinds of response headers, on rules
// that stay in force. One per input, so that each input replays alike.
class RlsHarness {
 public:
  explicit RlsHarness(std::shared_ptr<const envoy::RlsRules> rules)
      : store_(core::StoreOptions{4096, 4, false}),
        engine_(store_, 0),
        decider_(engine_, options()),
        rules_(std::move(rules)) {
    decider_.set_rules(rules_);
  }

  // Decides `request` at `now` and checks every invariant of the header comment.
  void decide(core::WallTime now, const envoy::RlsRequest& request) {
    request_ = &request;
    now_ = now;
    const std::vector<Expected> expected = expect(request);
    const std::vector<core::SlotUpdate> before = store_slots(store_, now);
    const envoy::RlsCountsSample metrics_before = metric_totals(decider_.counters());
    const std::uint64_t errors_before = decider_.counters().request_errors.load();

    const envoy::RlsDomain* domain = rules_->find_domain(request.domain);
    bool bad_override = false;
    std::size_t may_be_limited = 0;
    for (const Expected& e : expected) {
      bad_override = bad_override || (e.override_limit && !e.override_unit_known);
      if (e.override_limit ? e.override_unit_known : (e.node != nullptr && e.node->policy)) {
        ++may_be_limited;
      }
    }

    const Result<Done> decided = decider_.decide(now, request, response_);
    const std::vector<core::SlotUpdate> after = store_slots(store_, now);
    if (!decided.ok()) {
      RLS_CHECK(!decided.error().message.empty());
      RLS_CHECK(domain != nullptr);
      const bool explained = (decided.error().code == Errc::invalid_argument && bad_override) ||
                             (decided.error().code == Errc::too_many_items &&
                              may_be_limited > bounds::envoy_limited_descriptors_max);
      if (!explained) {
        std::fprintf(stderr, "unexpected refusal: %s\n", decided.error().message.c_str());
      }
      RLS_CHECK(explained);
      RLS_CHECK(after == before);
      RLS_CHECK(decider_.counters().request_errors.load() == errors_before + 1);
      return;
    }
    RLS_CHECK(domain == nullptr || !bad_override);
    RLS_CHECK(decider_.counters().request_errors.load() == errors_before);

    const std::size_t count = request.descriptors.size();
    RLS_CHECK(response_.statuses.size() == count);
    const bool same_as_previous = previous_now_ && *previous_now_ == now &&
                                  previous_remaining_.size() == count &&
                                  same_request(previous_request_, request);
    bool any_over = false;
    bool any_limit = false;
    std::uint64_t limited_cost = 0;        // summed over descriptors that report a limit
    std::uint64_t limited_cost_rules = 0;  // ... times their number of limits
    bool must_count = false;
    std::size_t over = 0;
    std::size_t unlimited = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const envoy::RlsDescriptorStatus& status = response_.statuses[i];
      const Expected& e = expected[i];
      RLS_CHECK(status.code == envoy::RlsCode::ok || status.code == envoy::RlsCode::over_limit);
      const bool over_here = status.code == envoy::RlsCode::over_limit;
      any_over = any_over || over_here;
      over += over_here;
      if (domain == nullptr || !e.limited) {
        // No limit: OK, nothing reported; remaining 2^32 - 1 exactly for an unlimited entry.
        RLS_CHECK(!over_here && !status.current_limit && !status.duration_until_reset_ms);
        const bool is_unlimited = domain != nullptr && !e.override_limit && e.node != nullptr &&
                                  e.node->config->unlimited;
        RLS_CHECK(status.limit_remaining == (is_unlimited ? kRemainingUnlimited : 0));
        unlimited += is_unlimited;
        continue;
      }
      RLS_CHECK(status.current_limit && status.duration_until_reset_ms);
      any_limit = true;
      const envoy::RlsRateLimit& limit = *status.current_limit;
      RLS_CHECK(status.limit_remaining <= limit.requests_per_unit);
      // A reset of 0 is "nothing to wait for": a sliding window with nothing counted.
      RLS_CHECK(*status.duration_until_reset_ms <= kLongestWindowMs);
      if (*status.duration_until_reset_ms == 0) {
        RLS_CHECK(status.limit_remaining == limit.requests_per_unit);
      }
      if (e.override_limit) {
        RLS_CHECK(limit.name.empty());
        RLS_CHECK(limit.requests_per_unit == request.descriptors[i].limit->requests_per_unit);
        RLS_CHECK(limit.unit == request.descriptors[i].limit->unit);
      } else {
        const envoy::RlsDescriptorNode& config = *e.node->config;
        RLS_CHECK(limit.name == config.name);
        const bool configured = std::any_of(
            config.limits.begin(), config.limits.end(), [&](const envoy::RlsLimitSpec& spec) {
              return spec.requests_per_unit == limit.requests_per_unit && spec.unit == limit.unit;
            });
        RLS_CHECK(configured);
      }
      if (e.shadow) RLS_CHECK(!over_here);
      // A limit of 0, or a cost above the limit, can never be admitted.
      if (!e.shadow && e.cost > limit.requests_per_unit) RLS_CHECK(over_here);
      limited_cost += e.cost;
      const std::size_t rules =
          e.override_limit ? 1 : std::max<std::size_t>(1, e.node->config->limits.size());
      limited_cost_rules += e.cost * rules;
      must_count = must_count || (!e.shadow && e.cost > 0);
      // Remaining never grows at the same instant, for the same request.
      if (same_as_previous && previous_remaining_[i]) {
        RLS_CHECK(status.limit_remaining <= *previous_remaining_[i]);
      }
    }
    if (before.empty()) {
      // Nothing counted in any window that matters: only the request's own cost can put a
      // limit over. (Descriptors of one request on one counter, the same entries and unit with
      // two overrides, share it under the stricter limit: hence the smallest.)
      std::uint64_t smallest_limit = std::numeric_limits<std::uint64_t>::max();
      for (const envoy::RlsDescriptorStatus& status : response_.statuses) {
        if (status.current_limit) {
          smallest_limit =
              std::min<std::uint64_t>(smallest_limit, status.current_limit->requests_per_unit);
        }
      }
      for (const envoy::RlsDescriptorStatus& status : response_.statuses) {
        if (status.code == envoy::RlsCode::over_limit) RLS_CHECK(limited_cost > smallest_limit);
      }
    }
    RLS_CHECK(response_.overall_code ==
              (any_over ? envoy::RlsCode::over_limit : envoy::RlsCode::ok));

    // The store: a denied request counts nothing; an admitted one at most its costs.
    if (any_over || !any_limit) {
      RLS_CHECK(after == before);
    } else {
      check_growth(before, after, limited_cost);
      const std::uint64_t added = total_of(after) - total_of(before);
      RLS_CHECK(added <= limited_cost_rules);
      if (must_count) RLS_CHECK(added > 0);
    }

    // The metrics: one request, one per descriptor, by code.
    const envoy::RlsCountsSample metrics = metric_totals(decider_.counters());
    RLS_CHECK(metrics.requests_ok + metrics.requests_over_limit ==
              metrics_before.requests_ok + metrics_before.requests_over_limit + 1);
    RLS_CHECK(metrics.requests_over_limit - metrics_before.requests_over_limit ==
              (any_over ? 1U : 0U));
    const auto descriptors_of = [](const envoy::RlsCountsSample& s) {
      return s.descriptors_ok + s.descriptors_over_limit + s.descriptors_shadow_over_limit +
             s.descriptors_unlimited + s.descriptors_no_limit;
    };
    RLS_CHECK(descriptors_of(metrics) - descriptors_of(metrics_before) == count);
    RLS_CHECK(metrics.descriptors_over_limit - metrics_before.descriptors_over_limit == over);
    RLS_CHECK(metrics.descriptors_unlimited - metrics_before.descriptors_unlimited == unlimited);

    check_headers(any_limit);
    check_protobuf_round_trip();

    previous_now_ = now;
    previous_request_ = request;
    previous_remaining_.assign(count, std::nullopt);
    for (std::size_t i = 0; i < count; ++i) {
      if (response_.statuses[i].current_limit) {
        previous_remaining_[i] = response_.statuses[i].limit_remaining;
      }
    }
  }

  const envoy::RlsResponse& response() const { return response_; }

 private:
  void dump() const {
    std::fprintf(stderr, "request: domain '%s', hits_addend %u, %zu descriptors\n",
                 request_->domain.c_str(), request_->hits_addend, request_->descriptors.size());
    for (std::size_t i = 0; i < request_->descriptors.size(); ++i) {
      const envoy::RlsDescriptor& d = request_->descriptors[i];
      std::fprintf(stderr, "  [%zu]", i);
      for (const envoy::RlsEntry& entry : d.entries) {
        std::fprintf(stderr, " %s=%s", entry.key.c_str(), entry.value.c_str());
      }
      if (d.limit) {
        std::fprintf(stderr, " limit %u/%s", d.limit->requests_per_unit,
                     std::string(envoy::rls_unit_name(d.limit->unit)).c_str());
      }
      if (d.hits_addend) {
        std::fprintf(stderr, " hits_addend %llu", static_cast<unsigned long long>(*d.hits_addend));
      }
      std::fprintf(stderr, "\n");
    }
    std::fprintf(stderr, "response (at %lld): overall %d\n", static_cast<long long>(now_.unix_ms),
                 static_cast<int>(response_.overall_code));
    for (std::size_t i = 0; i < response_.statuses.size(); ++i) {
      const envoy::RlsDescriptorStatus& s = response_.statuses[i];
      std::fprintf(stderr, "  [%zu] code %d remaining %u", i, static_cast<int>(s.code),
                   s.limit_remaining);
      if (s.current_limit) {
        std::fprintf(stderr, " limit '%s' %u/%s", s.current_limit->name.c_str(),
                     s.current_limit->requests_per_unit,
                     std::string(envoy::rls_unit_name(s.current_limit->unit)).c_str());
      }
      if (s.duration_until_reset_ms) {
        std::fprintf(stderr, " reset %llu ms",
                     static_cast<unsigned long long>(*s.duration_until_reset_ms));
      }
      std::fprintf(stderr, "\n");
    }
    for (const auto& [key, value] : response_.response_headers_to_add) {
      std::fprintf(stderr, "  header %s: %s\n", key.c_str(), value.c_str());
    }
  }

  static envoy::RlsDeciderOptions options() {
    envoy::RlsDeciderOptions out;
    out.ietf_headers = true;
    out.x_ratelimit_headers = true;
    return out;
  }

  std::vector<Expected> expect(const envoy::RlsRequest& request) const {
    std::vector<Expected> out(request.descriptors.size());
    const envoy::RlsDomain* domain = rules_->find_domain(request.domain);
    if (domain == nullptr) return out;
    std::vector<std::string_view> replaced;
    for (std::size_t i = 0; i < out.size(); ++i) {
      const envoy::RlsDescriptor& descriptor = request.descriptors[i];
      Expected& e = out[i];
      e.cost = descriptor.hits_addend
                   ? *descriptor.hits_addend
                   : std::max<std::uint64_t>(1, std::uint64_t{request.hits_addend});
      if (descriptor.limit) {
        e.override_limit = true;
        e.override_unit_known = envoy::rls_unit_window_ms(descriptor.limit->unit).ok();
        e.limited = e.override_unit_known;
        continue;
      }
      e.node = rules_->match(*domain, descriptor).node;
      if (e.node == nullptr) continue;
      const envoy::RlsDescriptorNode& config = *e.node->config;
      for (const std::string& name : config.replaces) replaced.push_back(name);
      e.limited = config.has_limit && !config.unlimited;
      e.shadow = config.shadow_mode;
    }
    for (Expected& e : out) {
      if (e.limited && e.node != nullptr && !e.node->config->name.empty() &&
          std::find(replaced.begin(), replaced.end(), e.node->config->name) != replaced.end()) {
        e.limited = false;  // `replaces`: no limit applies
      }
    }
    return out;
  }

  void check_headers(bool any_limit) const {
    const std::optional<std::uint64_t> limit = header_number(response_, "X-RateLimit-Limit");
    const std::optional<std::uint64_t> remaining =
        header_number(response_, "X-RateLimit-Remaining");
    const std::optional<std::uint64_t> reset = header_number(response_, "X-RateLimit-Reset");
    const bool expected = any_limit;
    RLS_CHECK(limit.has_value() == expected && remaining.has_value() == expected &&
              reset.has_value() == expected);
    if (expected) RLS_CHECK(*remaining <= *limit);
    for (const auto& [key, value] : response_.response_headers_to_add) {
      if (key == "RateLimit" || key == "RateLimit-Policy") {
        RLS_CHECK(any_limit && !value.empty());
      } else {
        RLS_CHECK(key.rfind("X-RateLimit-", 0) == 0);
      }
    }
  }

  // What Envoy reads is what was decided: encoded, serialized, parsed and decoded again.
  void check_protobuf_round_trip() const {
    envoy::PbRateLimitResponse encoded;
    envoy::encode_response(response_, encoded);
    std::string bytes;
    RLS_CHECK(encoded.SerializeToString(&bytes));
    envoy::PbRateLimitResponse parsed;
    RLS_CHECK(parsed.ParseFromString(bytes));
    envoy::RlsResponse back;
    envoy::decode_response(parsed, back);
    RLS_CHECK(same_response(back, response_));
  }

  core::CounterStore store_;
  core::CheckEngine engine_;
  envoy::RlsDecider decider_;
  std::shared_ptr<const envoy::RlsRules> rules_;
  envoy::RlsResponse response_;
  const envoy::RlsRequest* request_ = nullptr;  // the one being decided, for dump()
  core::WallTime now_;
  std::optional<core::WallTime> previous_now_;
  envoy::RlsRequest previous_request_;
  std::vector<std::optional<std::uint32_t>> previous_remaining_;
};

}  // namespace drl::fuzz
