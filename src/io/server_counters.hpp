// Counters of the client socket server, readable from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace drl::io {

struct ServerCounters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_rejected{0};  // over max_connections
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> frames_oversized{0};
  std::atomic<std::uint64_t> read_errors{0};
  std::atomic<std::uint64_t> output_pauses{0};  // reading paused: a client does not read answers
};

struct ServerOptions {
  std::size_t workers = 1;
  std::size_t max_connections = 1024;
  std::size_t max_frame_bytes = 64 * 1024;
  std::size_t max_pending_output_bytes = 1024 * 1024;
};

}  // namespace drl::io
