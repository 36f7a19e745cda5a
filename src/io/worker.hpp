// A thread with its own libuv loop, serving the connections handed to it.
#pragma once

#include <uv.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/server_counters.hpp"
#include "io/stream_session.hpp"

namespace drl::io {

class Connection;

class Worker {
 public:
  Worker(std::size_t index, const ServerOptions& options, std::unique_ptr<StreamProtocol> protocol,
         ServerCounters& counters);
  ~Worker();  // stops and joins if still running
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Any thread. The worker takes ownership of `fd`. With `make_room`, it first closes its
  // connection that has been silent longest (the server is at max_connections).
  void adopt(int fd, bool make_room);
  // Any thread. Closes the connection silent longest, to give its descriptor back.
  void request_eviction();
  // Any thread. Closes every connection and ends the thread; join() waits for it.
  void request_stop();
  void join();

  // Worker thread only.
  uv_loop_t* loop() { return &loop_; }
  StreamProtocol& protocol() { return *protocol_; }
  const ServerOptions& options() const { return options_; }
  ServerCounters& counters() { return counters_; }
  void attach(Connection* connection);
  void detach(Connection* connection);
  // `connection` just received bytes: it moves to the end of the list.
  void touch(Connection* connection);

 private:
  struct Incoming {
    int fd = -1;  // -1: no connection, only an eviction (request_eviction)
    bool make_room = false;
  };

  static void on_wakeup(uv_async_t* async);
  static void on_sweep(uv_timer_t* timer);
  void run();
  void evict_least_recently_active();

  std::size_t index_;
  ServerOptions options_;
  std::unique_ptr<StreamProtocol> protocol_;
  ServerCounters& counters_;
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t sweep_{};            // closes connections whose timeouts passed
  uv_tcp_t descriptor_warmup_{};  // see the constructor
  std::mutex mutex_;
  std::vector<Incoming> incoming_;
  bool stop_requested_ = false;
  bool stopped_ = false;
  // Open connections, least recently active first.
  Connection* oldest_ = nullptr;
  Connection* newest_ = nullptr;
  std::thread thread_;
};

}  // namespace drl::io
