// A stream server: accepts on a listening socket (Unix or TCP) in the main loop and hands each
// connection to a worker thread, round robin; the workers' protocol sessions answer. At
// max_connections a new connection is turned away with `reject_bytes`, or, with
// ServerOptions::evict_when_full, takes the place of the connection silent longest (also when
// the process is out of file descriptors). Serves the
// client protocol on the Unix socket and the HTTP endpoint.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/main_loop.hpp"
#include "io/server_counters.hpp"
#include "io/stream_session.hpp"

namespace drl::io {

class Worker;

class StreamServer {
 public:
  // `listen_fd` is a listening, non-blocking socket that outlives the server.
  // `reject_bytes` are written to connections turned away (best effort).
  StreamServer(MainLoop& main_loop, int listen_fd, const ServerOptions& options,
               const StreamProtocolFactory& factory, std::string reject_bytes);
  ~StreamServer();
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  void start();
  // Stops accepting, closes every connection and joins the workers. Main loop thread only.
  void stop();

  const ServerCounters& counters() const { return counters_; }

 private:
  struct Poll;
  friend struct Poll;
  void accept_all();
  // Out of descriptors: accepts the pending connection with the one kept in reserve (-1 if none
  // is pending or there is no reserve).
  int accept_with_reserve_fd();
  // Writes reject_bytes_ to `fd` (best effort), closes it and logs why (rate-limited).
  void turn_away(int fd, const std::string& why);

  MainLoop& loop_;
  int listen_fd_;
  ServerOptions options_;
  std::string reject_bytes_;
  ServerCounters counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t next_worker_ = 0;
  Poll* poll_ = nullptr;  // freed by its close callback
  bool stopped_ = false;
  int reserve_fd_ = -1;  // closed to accept and turn away a connection when out of descriptors
  // Evictions asked of the workers while out of descriptors, since the reserve was last given
  // back: each will free a descriptor.
  std::size_t evictions_pending_ = 0;
};

}  // namespace drl::io
