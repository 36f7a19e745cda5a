#include "http/request_mapping.hpp"

#include <cctype>

#include "core/bounds.hpp"
#include "http/request_target.hpp"

namespace drl::http {
namespace {

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
               hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The value a source names, or nullopt if absent or empty.
std::optional<std::string> source_value(const std::string& source, const HttpRequestView& request) {
  std::optional<std::string> value;
  if (source.rfind("query:", 0) == 0) {
    value = query_value(request.query, std::string_view(source).substr(6));
  } else if (source.rfind("header-first:", 0) == 0) {
    if (const auto header = request.header(std::string_view(source).substr(13))) {
      value = std::string(trim(header->substr(0, header->find(','))));
    }
  } else if (source.rfind("header:", 0) == 0) {
    if (const auto header = request.header(std::string_view(source).substr(7))) {
      value = std::string(trim(*header));
    }
  } else if (source == "remote_addr") {
    value = std::string(request.remote_addr);
  }
  if (value && value->empty()) return std::nullopt;
  return value;
}

std::optional<std::string> first_of(const std::vector<std::string>& sources,
                                    const HttpRequestView& request) {
  for (const std::string& source : sources) {
    if (auto value = source_value(source, request)) return value;
  }
  return std::nullopt;
}

std::string list_of(const std::vector<std::string>& sources) {
  std::string out;
  for (const std::string& source : sources) out += (out.empty() ? "" : ", ") + source;
  return out;
}

}  // namespace

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const std::size_t eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::variant<MappedCheck, MappingError> map_request(const core::PolicySet& policies,
                                                    const HttpRequestView& request,
                                                    std::string_view path_prefix) {
  MappedCheck out;
  std::string_view rest = request.path.substr(std::min(path_prefix.size(), request.path.size()));
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  if (!rest.empty()) {
    out.policy = std::string(rest);
  } else if (auto policy = query_value(request.query, "policy")) {
    out.policy = std::move(*policy);
  } else {
    return MappingError{400, "no policy: use /v1/check/POLICY or ?policy=POLICY"};
  }
  const core::Policy* policy = policies.find(out.policy);
  if (policy == nullptr)
    return MappingError{404, "unknown policy '" + out.policy.substr(0, 80) + "'"};

  const core::Policy::HttpMapping& map = policy->http;
  auto key = first_of(map.key, request);
  if (!key) return MappingError{400, "no key: none of " + list_of(map.key) + " is set"};
  out.key = std::move(*key);
  if (auto tier = first_of(map.tier, request)) out.tier = std::move(*tier);
  if (auto endpoint = first_of(map.endpoint, request)) {
    // URIs carry their query string; endpoints are paths.
    out.endpoint = endpoint->substr(0, endpoint->find('?'));
    if (auto method = first_of(map.method, request)) out.endpoint = *method + " " + out.endpoint;
  }
  if (auto cost = first_of(map.cost, request)) {
    std::uint64_t value = 0;
    bool valid = !cost->empty() && cost->size() <= 10;
    for (char c : *cost) {
      valid = valid && c >= '0' && c <= '9';
      if (valid) value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (!valid || value > bounds::limit_max) {
      return MappingError{400,
                          "cost '" + cost->substr(0, 20) + "' is not a number up to 4294967295"};
    }
    out.cost = value;
  }
  if (auto status = query_value(request.query, "deny_status")) {
    if (*status == "429") {
      out.deny_status = 429;
    } else if (*status == "403") {
      out.deny_status = 403;
    } else if (*status == "401") {
      out.deny_status = 401;
    } else {
      return MappingError{400, "deny_status must be 429, 403 or 401"};
    }
  }
  return out;
}

}  // namespace drl::http
