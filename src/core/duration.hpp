// Human durations as written in the config and on the command line: "250ms", "10s", "1m",
// "1h", "1d", "1y" (365 days), and sums of them such as "1h30m".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drl::core {

// Milliseconds, or nullopt when the text is not a duration (empty, no unit, unknown unit,
// overflow). Zero is a valid duration ("0s"); callers enforce their own minimum.
std::optional<std::uint64_t> parse_duration_ms(std::string_view text);

// The shortest exact spelling: 60000 -> "1m", 1500 -> "1s500ms", 0 -> "0ms".
std::string format_duration_ms(std::uint64_t ms);

// A wall time as people read it in UTC, to the second: "2026-12-05T08:27:00Z".
std::string format_utc(std::int64_t unix_ms);

// A span as people read it in a log or a listing (a wait, a time left): to the millisecond
// under a minute ("13.212s"), to the second above ("29m53s", not "29m52s603ms").
std::string format_span_ms(std::uint64_t ms);

}  // namespace drl::core
