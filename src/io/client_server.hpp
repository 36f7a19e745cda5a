// The client-protocol server: accepts on the listening socket in the main loop and hands each
// connection to a worker thread, round robin. Connections above max_connections get an error
// frame and are closed at once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "io/frame_handler.hpp"
#include "io/main_loop.hpp"
#include "io/server_counters.hpp"

namespace drl::io {

class Worker;

class ClientServer {
 public:
  // `listen_fd` is a listening, non-blocking socket that outlives the server.
  // `reject_frame` is written to connections turned away (best effort).
  ClientServer(MainLoop& main_loop, int listen_fd, const ServerOptions& options,
               const FrameHandlerFactory& factory, std::string reject_frame);
  ~ClientServer();
  ClientServer(const ClientServer&) = delete;
  ClientServer& operator=(const ClientServer&) = delete;

  void start();
  // Stops accepting, closes every connection and joins the workers. Main loop thread only.
  void stop();

  const ServerCounters& counters() const { return counters_; }

 private:
  struct Poll;
  friend struct Poll;
  void accept_all();
  bool turn_away_with_reserve_fd();

  MainLoop& loop_;
  int listen_fd_;
  ServerOptions options_;
  std::string reject_frame_;
  ServerCounters counters_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::size_t next_worker_ = 0;
  Poll* poll_ = nullptr;  // freed by its close callback
  bool stopped_ = false;
  int reserve_fd_ = -1;  // closed to accept and turn away a connection when out of descriptors
};

}  // namespace drl::io
