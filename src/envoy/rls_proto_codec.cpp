#include "envoy/rls_proto_codec.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "core/bounds.hpp"

namespace drl::envoy {
namespace {

using PbDescriptor = ::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
using PbRateLimitUnit = ::envoy::type::v3::RateLimitUnit;
using PbResponseUnit = ::envoy::service::ratelimit::v3::RateLimitResponse_RateLimit_Unit;
using PbCode = ::envoy::service::ratelimit::v3::RateLimitResponse_Code;

// RlsUnit's values are the wire values of both unit enums (RateLimitUnit, and RateLimit.Unit
// which adds WEEK = 7). proto3 enums are open: a value Envoy adds later arrives as a number.
RlsUnit unit_from_wire(int value) {
  if (value < 0 || value > static_cast<int>(RlsUnit::week)) return RlsUnit::unknown;
  return static_cast<RlsUnit>(value);
}

RlsCode code_from_wire(int value) {
  if (value < 0 || value > static_cast<int>(RlsCode::over_limit)) return RlsCode::unknown;
  return static_cast<RlsCode>(value);
}

std::string descriptor_name(int index) {
  return "descriptor " + std::to_string(index);
}

RlsStatus decode_descriptor(const PbDescriptor& in, int index, RlsDescriptor& out) {
  if (static_cast<std::size_t>(in.entries_size()) > bounds::rls_entries_per_descriptor_max) {
    return RlsStatus::invalid_argument(descriptor_name(index) + " has " +
                                       std::to_string(in.entries_size()) + " entries, more than " +
                                       std::to_string(bounds::rls_entries_per_descriptor_max));
  }
  for (const auto& entry : in.entries()) {
    if (entry.key().size() > bounds::rls_entry_bytes_max ||
        entry.value().size() > bounds::rls_entry_bytes_max) {
      return RlsStatus::invalid_argument(descriptor_name(index) +
                                         " has an entry's key or value longer than " +
                                         std::to_string(bounds::rls_entry_bytes_max) + " bytes");
    }
  }
  out.entries.clear();
  out.entries.reserve(static_cast<std::size_t>(in.entries_size()));
  for (const auto& entry : in.entries()) out.entries.push_back({entry.key(), entry.value()});

  out.limit.reset();
  if (in.has_limit()) {
    out.limit = RlsLimitOverride{in.limit().requests_per_unit(), unit_from_wire(in.limit().unit())};
  }
  out.hits_addend.reset();
  if (in.has_hits_addend()) {
    const std::uint64_t hits = in.hits_addend().value();
    if (hits > std::numeric_limits<std::uint32_t>::max()) {
      return RlsStatus::invalid_argument(descriptor_name(index) + " has hits_addend " +
                                         std::to_string(hits) + ", more than 4294967295");
    }
    out.hits_addend = hits;
  }
  return {};
}

}  // namespace

RlsStatus decode_request(const PbRateLimitRequest& in, RlsRequest& out) {
  // The same words as envoyproxy/ratelimit's, for operators who grep for them.
  if (in.domain().empty())
    return RlsStatus::invalid_argument("rate limit domain must not be empty");
  if (in.domain().size() > bounds::rls_domain_bytes_max) {
    return RlsStatus::invalid_argument("the domain has " + std::to_string(in.domain().size()) +
                                       " bytes, more than " +
                                       std::to_string(bounds::rls_domain_bytes_max));
  }
  if (in.descriptors_size() == 0) {
    return RlsStatus::invalid_argument("rate limit descriptor list must not be empty");
  }
  if (static_cast<std::size_t>(in.descriptors_size()) > bounds::rls_descriptors_per_request_max) {
    return RlsStatus::invalid_argument("the request has " + std::to_string(in.descriptors_size()) +
                                       " descriptors, more than " +
                                       std::to_string(bounds::rls_descriptors_per_request_max));
  }
  out.domain = in.domain();
  out.hits_addend = in.hits_addend();
  out.descriptors.resize(static_cast<std::size_t>(in.descriptors_size()));
  for (int i = 0; i < in.descriptors_size(); ++i) {
    RlsStatus status = decode_descriptor(in.descriptors(i), i, out.descriptors[std::size_t(i)]);
    if (!status.ok()) return status;
  }
  return {};
}

RlsStatus decode_request_bytes(std::string_view bytes, RlsRequest& out) {
  if (bytes.size() > bounds::rls_request_bytes_max) {
    return RlsStatus::invalid_argument("the request has " + std::to_string(bytes.size()) +
                                       " bytes, more than " +
                                       std::to_string(bounds::rls_request_bytes_max));
  }
  PbRateLimitRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return RlsStatus::invalid_argument("the bytes are not a RateLimitRequest");
  }
  return decode_request(request, out);
}

void encode_response(const RlsResponse& in, PbRateLimitResponse& out) {
  out.Clear();
  out.set_overall_code(static_cast<PbCode>(in.overall_code));
  out.mutable_statuses()->Reserve(static_cast<int>(in.statuses.size()));
  for (const RlsDescriptorStatus& status : in.statuses) {
    auto& pb_status = *out.add_statuses();
    pb_status.set_code(static_cast<PbCode>(status.code));
    if (status.current_limit) {
      auto& limit = *pb_status.mutable_current_limit();
      limit.set_name(status.current_limit->name);
      limit.set_requests_per_unit(status.current_limit->requests_per_unit);
      limit.set_unit(static_cast<PbResponseUnit>(status.current_limit->unit));
    }
    pb_status.set_limit_remaining(status.limit_remaining);
    if (status.duration_until_reset_ms) {
      auto& duration = *pb_status.mutable_duration_until_reset();
      duration.set_seconds(static_cast<std::int64_t>(*status.duration_until_reset_ms / 1000));
      duration.set_nanos(static_cast<std::int32_t>(*status.duration_until_reset_ms % 1000) *
                         1'000'000);
    }
  }
  for (const auto& [key, value] : in.response_headers_to_add) {
    auto& header = *out.add_response_headers_to_add();
    header.set_key(key);
    header.set_value(value);
  }
}

void encode_request(const RlsRequest& in, PbRateLimitRequest& out) {
  out.Clear();
  out.set_domain(in.domain);
  out.set_hits_addend(in.hits_addend);
  for (const RlsDescriptor& descriptor : in.descriptors) {
    auto& pb_descriptor = *out.add_descriptors();
    for (const RlsEntry& entry : descriptor.entries) {
      auto& pb_entry = *pb_descriptor.add_entries();
      pb_entry.set_key(entry.key);
      pb_entry.set_value(entry.value);
    }
    if (descriptor.limit) {
      auto& limit = *pb_descriptor.mutable_limit();
      limit.set_requests_per_unit(descriptor.limit->requests_per_unit);
      limit.set_unit(static_cast<PbRateLimitUnit>(descriptor.limit->unit));
    }
    if (descriptor.hits_addend)
      pb_descriptor.mutable_hits_addend()->set_value(*descriptor.hits_addend);
  }
}

void decode_response(const PbRateLimitResponse& in, RlsResponse& out) {
  out.overall_code = code_from_wire(in.overall_code());
  out.statuses.clear();
  out.statuses.reserve(static_cast<std::size_t>(in.statuses_size()));
  for (const auto& pb_status : in.statuses()) {
    RlsDescriptorStatus& status = out.statuses.emplace_back();
    status.code = code_from_wire(pb_status.code());
    if (pb_status.has_current_limit()) {
      const auto& limit = pb_status.current_limit();
      status.current_limit =
          RlsRateLimit{limit.name(), limit.requests_per_unit(), unit_from_wire(limit.unit())};
    }
    status.limit_remaining = pb_status.limit_remaining();
    if (pb_status.has_duration_until_reset()) {
      // A server's answer, trusted but not to overflow: negative is 0, beyond ~300 years capped.
      const auto& duration = pb_status.duration_until_reset();
      constexpr std::int64_t seconds_max = std::int64_t{1} << 33;
      const std::int64_t seconds = std::clamp<std::int64_t>(duration.seconds(), 0, seconds_max);
      const std::int64_t ms = seconds * 1000 + duration.nanos() / 1'000'000;
      status.duration_until_reset_ms = ms > 0 ? static_cast<std::uint64_t>(ms) : 0;
    }
  }
  out.response_headers_to_add.clear();
  for (const auto& header : in.response_headers_to_add()) {
    out.response_headers_to_add.emplace_back(header.key(), header.value());
  }
}

}  // namespace drl::envoy
