#include "core/duration.hpp"

#include <ctime>

#include <array>
#include <cstdio>
#include <limits>

namespace drl::core {
namespace {

struct Unit {
  std::string_view suffix;
  std::uint64_t ms;
};

// Longest suffix first where one is a prefix of another ("ms" before "m").
constexpr std::array<Unit, 6> kUnits{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
    {"y", 365 * 86'400'000ULL},  // 365 days, as envoyproxy/ratelimit's year: no calendar here
}};

}  // namespace

std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::uint64_t number = 0;
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      const std::uint64_t digit = static_cast<std::uint64_t>(text[pos] - '0');
      if (number > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
      number = number * 10 + digit;
      ++pos;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (text.substr(pos, candidate.suffix.size()) == candidate.suffix) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr) return std::nullopt;
    pos += unit->suffix.size();
    if (number > std::numeric_limits<std::uint64_t>::max() / unit->ms) return std::nullopt;
    const std::uint64_t part = number * unit->ms;
    if (total > std::numeric_limits<std::uint64_t>::max() - part) return std::nullopt;
    total += part;
  }
  return total;
}

std::string format_duration_ms(std::uint64_t ms) {
  if (ms == 0) return "0ms";
  std::string out;
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (ms >= it->ms) {
      out += std::to_string(ms / it->ms);
      out += it->suffix;
      ms %= it->ms;
    }
  }
  return out;
}

std::string format_span_ms(std::uint64_t ms) {
  constexpr std::uint64_t minute_ms = 60'000;
  if (ms >= minute_ms) return format_duration_ms((ms + 500) / 1000 * 1000);
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(ms) / 1000.0);
  return text;
}

std::string format_utc(std::int64_t unix_ms) {
  const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace drl::core
