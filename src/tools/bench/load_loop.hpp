// One load thread: an epoll loop (plain epoll and a timerfd, no libuv) over its share of the
// connections. Closed loop: every connection keeps `inflight` requests outstanding, sending a
// new one for each answer. Open loop: requests come due at fixed intervals whatever the answers
// do, and each is timed from when it was due, not from when it could be sent, so a stalled
// server shows in the latency instead of slowing the load down (no coordinated omission).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tools/bench/key_generator.hpp"
#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/load_connection.hpp"
#include "tools/bench/target_protocol.hpp"

namespace drl::bench {

// Times are ns on the monotonic clock (std::chrono::steady_clock).
struct LoadPlan {
  std::uint32_t inflight = 1;  // per connection: the closed loop's depth, the open loop's cap
  double rate_per_s = 0;       // this thread's requests per second; 0: closed loop
  // Requests to send in all (each answered before the loop ends); 0: until stop_ns.
  std::uint64_t request_budget = 0;
  std::int64_t start_ns = 0;
  std::int64_t measure_from_ns = 0;  // answers before this are warm-up, not counted
  std::int64_t stop_ns = 0;          // no request is sent, and no answer counted, from here
};

struct LoadResult {
  LatencyHistogram latency;     // of the answers counted
  std::uint64_t answered = 0;   // requests answered inside the measured interval
  AnswerTally tally;            // what those answers said, per check
  std::uint64_t sent = 0;       // requests written, warm-up included
  std::size_t backlog_max = 0;  // open loop: most requests due and not yet sendable at once
  std::string error;            // why the loop stopped early; empty if it did not
};

class LoadLoop {
 public:
  LoadLoop(LoadPlan plan, std::unique_ptr<TargetProtocol> protocol, KeyGenerator keys,
           std::vector<int> connection_fds);
  ~LoadLoop();
  LoadLoop(const LoadLoop&) = delete;
  LoadLoop& operator=(const LoadLoop&) = delete;

  // Runs the plan on the calling thread.
  LoadResult run();

 private:
  bool may_send(std::int64_t now_ns) const;
  void append_request(LoadConnection& connection, std::int64_t due_ns);
  void start_closed_loop();
  void dispatch_due(std::int64_t now_ns);
  void on_readable(LoadConnection& connection);
  void flush(LoadConnection& connection);
  void arm_timer(std::int64_t at_ns);
  bool finished(std::int64_t now_ns) const;
  void fail(std::string why);

  LoadPlan plan_;
  std::unique_ptr<TargetProtocol> protocol_;
  KeyGenerator keys_;
  std::vector<std::unique_ptr<LoadConnection>> connections_;
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
  std::int64_t period_ns_ = 0;    // open loop: between two requests of this thread
  std::int64_t next_due_ns_ = 0;  // open loop: when the next request is due
  std::size_t next_connection_ = 0;
  std::uint64_t answered_total_ = 0;
  LoadResult result_;
};

std::int64_t monotonic_ns();

}  // namespace drl::bench
