// Calls to the servers outside a timed run: loading the Redis scripts, and what a server says
// about its size (keys, memory, pid), plus its resident set size from /proc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace drl::bench {

enum class ServerKind { drl, redis };

struct ServerSnapshot {
  pid_t pid = 0;
  // drl: keys_tracked (counters) and store_memory_bytes of `drl status`.
  // Redis: DBSIZE and used_memory of INFO memory.
  std::uint64_t keys = 0;
  std::uint64_t memory_bytes = 0;
  std::uint64_t rss_bytes = 0;  // of the whole server process (VmRSS); 0 if unreadable
};

// Throws std::runtime_error when the server cannot be reached or answers nonsense.
ServerSnapshot take_snapshot(ServerKind kind, const std::string& socket_path);

// SCRIPT LOAD: the script's SHA-1 for EVALSHA.
std::string load_redis_script(const std::string& socket_path, std::string_view script);

}  // namespace drl::bench
