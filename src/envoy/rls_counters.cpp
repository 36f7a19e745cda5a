#include "envoy/rls_counters.hpp"

namespace drl::envoy {

RlsCountsSample sample_of(const RlsCounts& counts) {
  const auto load = [](const std::atomic<std::uint64_t>& value) {
    return value.load(std::memory_order_relaxed);
  };
  RlsCountsSample out;
  out.requests_ok = load(counts.requests_ok);
  out.requests_over_limit = load(counts.requests_over_limit);
  out.descriptors_ok = load(counts.descriptors_ok);
  out.descriptors_over_limit = load(counts.descriptors_over_limit);
  out.descriptors_shadow_over_limit = load(counts.descriptors_shadow_over_limit);
  out.descriptors_unlimited = load(counts.descriptors_unlimited);
  out.descriptors_no_limit = load(counts.descriptors_no_limit);
  return out;
}

RlsCounters::RlsCounters() : domains_(new RlsCounts[capacity]) {}

std::uint32_t RlsCounters::domain_id(std::string_view domain) {
  std::lock_guard<std::mutex> guard(mutex_);
  const auto it = ids_.find(std::string(domain));
  if (it != ids_.end()) return it->second;
  if (names_.size() + 2 >= capacity) return other_domains;
  const auto id = static_cast<std::uint32_t>(names_.size() + 2);
  ids_.emplace(std::string(domain), id);
  names_.emplace_back(domain);
  return id;
}

RlsCounts* RlsCounters::detailed(std::string_view domain, std::string_view series) {
  std::string name;
  name.reserve(domain.size() + 1 + series.size());
  name.append(domain).push_back('\0');
  name.append(series);
  std::lock_guard<std::mutex> guard(mutex_);
  const auto it = detailed_.find(name);
  if (it != detailed_.end()) return &it->second->counts;
  if (detailed_.size() >= bounds::envoy_detailed_series_max) {
    detailed_series_dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  auto fresh = std::make_unique<Series>();
  fresh->domain = std::string(domain);
  fresh->series = std::string(series);
  RlsCounts* counts = &fresh->counts;
  detailed_.emplace(std::move(name), std::move(fresh));
  return counts;
}

std::vector<RlsCounters::DomainSample> RlsCounters::domains() const {
  std::vector<DomainSample> out;
  std::lock_guard<std::mutex> guard(mutex_);
  out.reserve(names_.size() + 2);
  for (std::size_t i = 0; i < names_.size(); ++i) {
    out.push_back({names_[i], sample_of(domains_[i + 2])});
  }
  out.push_back({std::string(unknown_domain_name), sample_of(domains_[unknown_domain])});
  out.push_back({std::string(other_domains_name), sample_of(domains_[other_domains])});
  return out;
}

std::vector<RlsCounters::DetailedSample> RlsCounters::detailed() const {
  std::vector<DetailedSample> out;
  std::lock_guard<std::mutex> guard(mutex_);
  out.reserve(detailed_.size());
  for (const auto& [name, series] : detailed_) {
    out.push_back({series->domain, series->series, sample_of(series->counts)});
  }
  return out;
}

}  // namespace drl::envoy
