// A thread with its own libuv loop, serving the connections handed to it.
#pragma once

#include <uv.h>

#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "io/frame_handler.hpp"
#include "io/server_counters.hpp"

namespace drl::io {

class Connection;

class Worker {
 public:
  Worker(std::size_t index, const ServerOptions& options, std::unique_ptr<FrameHandler> handler,
         ServerCounters& counters);
  ~Worker();  // stops and joins if still running
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Any thread. The worker takes ownership of `fd`.
  void adopt(int fd);
  // Any thread. Closes every connection and ends the thread; join() waits for it.
  void request_stop();
  void join();

  // Worker thread only.
  uv_loop_t* loop() { return &loop_; }
  FrameHandler& handler() { return *handler_; }
  const ServerOptions& options() const { return options_; }
  ServerCounters& counters() { return counters_; }
  void attach(Connection* connection);
  void detach(Connection* connection);

 private:
  static void on_wakeup(uv_async_t* async);
  static void on_sweep(uv_timer_t* timer);
  void run();

  std::size_t index_;
  ServerOptions options_;
  std::unique_ptr<FrameHandler> handler_;
  ServerCounters& counters_;
  uv_loop_t loop_{};
  uv_async_t wakeup_{};
  uv_timer_t sweep_{};  // closes connections whose timeouts passed
  std::mutex mutex_;
  std::vector<int> incoming_;
  bool stop_requested_ = false;
  bool stopped_ = false;
  Connection* connections_ = nullptr;
  std::thread thread_;
};

}  // namespace drl::io
