// What Envoy's rate limit service counts, for the daemon to export: per domain (bounded: the
// configured domains up to bounds::envoy_domains_metered_max, then one shared bucket; requests
// for a domain no file defines in one bucket of their own, since a request can name any) and,
// for descriptors with detailed_metric, per value (bounded by bounds::envoy_detailed_series_max,
// then counted only in their domain). Plain atomics, relaxed: each is a count on its own.
//
// Thread-safety: every method may be called from any thread. Ids survive reloads: a domain keeps
// its counters as long as the process lives.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/bounds.hpp"

namespace drl::envoy {

struct RlsCounts {
  std::atomic<std::uint64_t> requests_ok{0};
  std::atomic<std::uint64_t> requests_over_limit{0};
  std::atomic<std::uint64_t> descriptors_ok{0};          // a limit applied, within it
  std::atomic<std::uint64_t> descriptors_over_limit{0};  // answered OVER_LIMIT
  // Over its limit but in shadow_mode: answered OK, counted here (envoyproxy/ratelimit's
  // shadow_mode statistic).
  std::atomic<std::uint64_t> descriptors_shadow_over_limit{0};
  std::atomic<std::uint64_t> descriptors_unlimited{0};
  // No limit applied: no descriptor matched, or its limit was replaced, or the domain is unknown.
  std::atomic<std::uint64_t> descriptors_no_limit{0};
};

// A copy of RlsCounts.
struct RlsCountsSample {
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_over_limit = 0;
  std::uint64_t descriptors_ok = 0;
  std::uint64_t descriptors_over_limit = 0;
  std::uint64_t descriptors_shadow_over_limit = 0;
  std::uint64_t descriptors_unlimited = 0;
  std::uint64_t descriptors_no_limit = 0;
};

RlsCountsSample sample_of(const RlsCounts& counts);

class RlsCounters {
 public:
  static constexpr std::uint32_t unknown_domain = 0;
  static constexpr std::uint32_t other_domains = 1;
  static constexpr std::size_t capacity = bounds::envoy_domains_metered_max + 2;
  // How the two shared buckets are named in samples.
  static constexpr std::string_view unknown_domain_name = "(unknown)";
  static constexpr std::string_view other_domains_name = "(other)";

  RlsCounters();

  // The id of a configured domain (not on the request path: the decider asks on reload).
  std::uint32_t domain_id(std::string_view domain);
  RlsCounts& domain(std::uint32_t id) { return domains_[id < capacity ? id : other_domains]; }

  // The counts of one detailed_metric series ("key_value.key2_value2" under `domain`), created
  // on first use; null once bounds::envoy_detailed_series_max series exist (then counted in
  // detailed_series_dropped).
  RlsCounts* detailed(std::string_view domain, std::string_view series);

  // Requests answered with an error (malformed, beyond a bound, an override drl cannot count).
  std::atomic<std::uint64_t> request_errors{0};
  std::atomic<std::uint64_t> detailed_series_dropped{0};

  struct DomainSample {
    std::string domain;
    RlsCountsSample counts;
  };
  struct DetailedSample {
    std::string domain;
    std::string series;
    RlsCountsSample counts;
  };
  // Every domain given an id, then the two buckets.
  std::vector<DomainSample> domains() const;
  std::vector<DetailedSample> detailed() const;

 private:
  std::unique_ptr<RlsCounts[]> domains_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> names_;  // by id, from 2
  struct Series {
    std::string domain;
    std::string series;
    RlsCounts counts;
  };
  std::unordered_map<std::string, std::unique_ptr<Series>> detailed_;
};

}  // namespace drl::envoy
