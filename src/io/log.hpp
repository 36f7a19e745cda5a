// Logging to stderr: one line per event, with time and level. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace drl::io {

enum class LogLevel : int { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(LogLevel level);
LogLevel log_level_from_name(std::string_view name);  // unknown names: info
void log(LogLevel level, std::string_view message);

inline void log_debug(std::string_view message) {
  log(LogLevel::debug, message);
}
inline void log_info(std::string_view message) {
  log(LogLevel::info, message);
}
inline void log_warn(std::string_view message) {
  log(LogLevel::warn, message);
}
inline void log_error(std::string_view message) {
  log(LogLevel::error, message);
}

// At most `per_interval` lines per interval; the rest are counted and summarised in the next
// line that gets through. For events driven by untrusted input.
class RateLimitedLog {
 public:
  RateLimitedLog(LogLevel level, std::uint32_t per_interval, std::int64_t interval_ms)
      : level_(level), per_interval_(per_interval), interval_ms_(interval_ms) {}

  void log(std::string_view message);

 private:
  LogLevel level_;
  std::uint32_t per_interval_;
  std::int64_t interval_ms_;
  std::atomic<std::int64_t> interval_start_ms_{0};
  std::atomic<std::uint32_t> logged_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace drl::io
