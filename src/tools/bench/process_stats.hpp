// CPU time and resident memory of processes, from /proc (Linux).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace drl::bench {

// User plus system CPU time of `pid` so far, all threads; nothing if it cannot be read.
std::optional<double> process_cpu_seconds(pid_t pid);

// Resident set size of `pid` (VmRSS); nothing if it cannot be read.
std::optional<std::uint64_t> process_rss_bytes(pid_t pid);

// User plus system CPU time of this process so far, all threads.
double own_cpu_seconds();

}  // namespace drl::bench
