#include "tools/bench/process_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace drl::bench {
namespace {

std::optional<std::string> read_proc_file(pid_t pid, const char* name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/" + name);
  if (!file) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

double seconds_of(const timeval& time) {
  return static_cast<double>(time.tv_sec) + static_cast<double>(time.tv_usec) / 1e6;
}

}  // namespace

std::optional<double> process_cpu_seconds(pid_t pid) {
  const std::optional<std::string> stat = read_proc_file(pid, "stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) may hold spaces; the fields after it start past its ')'.
  const std::size_t name_end = stat->rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  std::istringstream fields(stat->substr(name_end + 2));
  std::string skipped;
  // Fields 3 .. 13 (state .. cmajflt), then utime (14) and stime (15), in clock ticks.
  for (int field = 3; field <= 13; ++field) fields >> skipped;
  unsigned long long user_ticks = 0;
  unsigned long long system_ticks = 0;
  if (!(fields >> user_ticks >> system_ticks)) return std::nullopt;
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (ticks_per_second <= 0) return std::nullopt;
  return static_cast<double>(user_ticks + system_ticks) / static_cast<double>(ticks_per_second);
}

std::optional<std::uint64_t> process_rss_bytes(pid_t pid) {
  const std::optional<std::string> status = read_proc_file(pid, "status");
  if (!status) return std::nullopt;
  const std::size_t at = status->find("VmRSS:");
  if (at == std::string::npos) return std::nullopt;
  std::istringstream field(status->substr(at + 6));
  std::uint64_t kilobytes = 0;
  if (!(field >> kilobytes)) return std::nullopt;
  return kilobytes * 1024;
}

double own_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

}  // namespace drl::bench
