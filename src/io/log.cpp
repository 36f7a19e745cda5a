#include "io/log.hpp"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "io/clock.hpp"
#include "wire/utf8.hpp"

namespace drl::io {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug:
      return "debug";
    case LogLevel::info:
      return "info";
    case LogLevel::warn:
      return "warn";
    case LogLevel::error:
      return "error";
  }
  return "info";
}

}  // namespace

void set_log_level(LogLevel level) {
  g_level.store(static_cast<int>(level));
}

LogLevel log_level_from_name(std::string_view name) {
  if (name == "debug") return LogLevel::debug;
  if (name == "warn") return LogLevel::warn;
  if (name == "error") return LogLevel::error;
  return LogLevel::info;
}

void log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  const core::WallTime now = wall_now();
  const time_t seconds = static_cast<time_t>(now.unix_ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[48];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(now.unix_ms % 1000));
  std::string line;
  line.reserve(message.size() + 64);
  line += stamp;
  line += ' ';
  line += level_name(level);
  line += ' ';
  // Messages carry what callers sent (keys, reasons): one message stays one line.
  line += wire::escape_control_bytes(message);
  line += '\n';
  // One write per line, so that lines from several threads never interleave.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

void RateLimitedLog::log(std::string_view message) {
  const std::int64_t now_ms = mono_now().ns / 1'000'000;
  std::int64_t start = interval_start_ms_.load(std::memory_order_relaxed);
  if (now_ms - start >= interval_ms_ &&
      interval_start_ms_.compare_exchange_strong(start, now_ms, std::memory_order_relaxed)) {
    logged_.store(0, std::memory_order_relaxed);
  }
  if (logged_.fetch_add(1, std::memory_order_relaxed) >= per_interval_) {
    suppressed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::uint64_t suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
  if (suppressed == 0) {
    io::log(level_, message);
  } else {
    io::log(level_, std::string(message) + " (" + std::to_string(suppressed) +
                        " similar lines suppressed)");
  }
}

}  // namespace drl::io
