// The daemon's main event loop: signals, periodic timers, and the loop the io objects (client
// server, cluster driver, file watcher) attach to. Hides libuv from the layers above.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace drl::io {

class MainLoop {
 public:
  struct Impl;  // io-internal (main_loop_impl.hpp)

  MainLoop();
  ~MainLoop();  // closes the loop; every attached object must be closed before
  MainLoop(const MainLoop&) = delete;
  MainLoop& operator=(const MainLoop&) = delete;

  // Calls `handler` on the loop thread when `signum` arrives, until close_handles().
  void on_signal(int signum, std::function<void(int)> handler);
  // Calls `tick` every `interval_ms`, until close_handles().
  void every(std::uint64_t interval_ms, std::function<void()> tick);

  // Runs until no handle is left open.
  void run();
  // Closes the signal and timer handles made here (run() then returns once the other io
  // objects closed theirs).
  void close_handles();
  // True if the loop closed with no handle left open.
  bool closed_cleanly() const { return closed_cleanly_; }

  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
  bool closed_cleanly_ = false;
};

}  // namespace drl::io
