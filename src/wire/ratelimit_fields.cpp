#include "wire/ratelimit_fields.hpp"

#include <cstdio>

#include "core/duration.hpp"

namespace drl::wire {
namespace {

// Seconds as an sf-integer, or an sf-decimal (three decimals at most) below whole seconds.
std::string sf_seconds(std::uint64_t ms) {
  if (ms % 1000 == 0) return std::to_string(ms / 1000);
  char text[32];
  std::snprintf(text, sizeof text, "%llu.%03llu", static_cast<unsigned long long>(ms / 1000),
                static_cast<unsigned long long>(ms % 1000));
  std::string out = text;
  while (out.back() == '0') out.pop_back();
  return out;
}

}  // namespace

std::string sf_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 && byte < 0xc0) continue;  // a UTF-8 continuation: one '?' a character
    if (byte < 0x20 || byte > 0x7e) {
      out.push_back('?');
    } else {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

std::uint64_t whole_seconds_up(std::uint64_t ms) {
  return (ms + 999) / 1000;
}

std::string limit_item_name(const core::CheckOutcome& outcome, std::size_t index) {
  const core::LimitOutcome& limit = outcome.limits[index];
  std::string name = limit.policy->name;
  if (!limit.scope.empty()) name += ":" + std::string(limit.scope);
  bool shared_scope = false;
  for (std::size_t i = 0; i < outcome.limit_count; ++i) {
    shared_scope = shared_scope || (i != index && outcome.limits[i].policy == limit.policy &&
                                    outcome.limits[i].scope == limit.scope);
  }
  if (shared_scope) name += "/" + core::format_duration_ms(limit.rule->window_ms);
  return sf_string(name);
}

RateLimitFields ratelimit_fields(const core::CheckOutcome& outcome) {
  RateLimitFields out;
  for (std::size_t i = 0; i < outcome.limit_count; ++i) {
    const core::LimitOutcome& limit = outcome.limits[i];
    const std::string name = limit_item_name(outcome, i);
    if (!out.policy.empty()) out.policy += ", ";
    out.policy +=
        name + ";q=" + std::to_string(limit.limit) + ";w=" + sf_seconds(limit.rule->window_ms);
    if (!out.remaining.empty()) out.remaining += ", ";
    out.remaining += name + ";r=" + std::to_string(limit.verdict.remaining) +
                     ";t=" + std::to_string(whole_seconds_up(limit.verdict.reset_after_ms));
  }
  return out;
}

}  // namespace drl::wire
