// Counters and options of a stream server (the client socket, the HTTP endpoint), readable from
// any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

namespace drl::io {

struct ServerCounters {
  std::atomic<std::uint64_t> connections_open{0};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_rejected{0};         // over max_connections
  std::atomic<std::uint64_t> connections_rejected_no_fds{0};  // out of file descriptors
  std::atomic<std::uint64_t> connections_evicted{0};  // closed to make room (evict_when_full)
  std::atomic<std::uint64_t> frames{0};
  std::atomic<std::uint64_t> frames_oversized{0};
  std::atomic<std::uint64_t> read_errors{0};
  std::atomic<std::uint64_t> output_pauses{0};    // reading paused: a client does not read answers
  std::atomic<std::uint64_t> timed_out_idle{0};   // nothing received for idle_timeout
  std::atomic<std::uint64_t> timed_out_frame{0};  // a frame (request) not completed in time
  std::atomic<std::uint64_t> timed_out_stalled_output{0};  // answers not read in time
};

enum class Transport : std::uint8_t { unix_stream, tcp };

struct ServerOptions {
  std::string name = "client";  // in log lines: "client connection rejected: ..."
  std::size_t workers = 1;
  std::size_t max_connections = 1024;
  std::size_t max_frame_bytes = 64 * 1024;
  std::size_t max_pending_output_bytes = 1024 * 1024;
  // 0 disables a timeout. Checked about once a second.
  std::uint64_t idle_timeout_ms = 300'000;           // no bytes from the client for this long
  std::uint64_t frame_timeout_ms = 10'000;           // a request begun and not finished (slowloris)
  std::uint64_t stalled_output_timeout_ms = 30'000;  // answers waiting, none read for this long
  Transport transport = Transport::unix_stream;
  // At max_connections: false turns the new connection away; true closes the connection that
  // has been silent longest (of the worker the new one goes to) to make room, so that idle or
  // slow connections, however many, cannot keep a new client out.
  bool evict_when_full = false;
};

}  // namespace drl::io
