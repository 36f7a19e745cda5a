// One client connection of a load run: the requests it has written and not yet seen answered
// (their send times, oldest first: answers come back in request order), the bytes waiting to be
// written, and the bytes read and not yet recognised as answers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/file_descriptor.hpp"

namespace drl::bench {

class LoadConnection {
 public:
  enum class ReadStatus { ok, closed, failed };

  explicit LoadConnection(int fd);

  int fd() const { return fd_.get(); }

  // Requests are appended here, then flushed.
  std::string& output() { return output_; }
  bool output_pending() const { return written_ < output_.size(); }
  // Writes as much of the output as the socket takes now. False if the connection broke.
  bool flush();

  // Reads what the socket holds now (it is non-blocking).
  ReadStatus read_available();
  std::string_view unread() const {
    return {input_.data() + input_start_, input_end_ - input_start_};
  }
  void consume(std::size_t bytes) { input_start_ += bytes; }

  // When each request in flight was sent (or, in an open loop, was due), ns on the monotonic
  // clock. Its size is the number of requests in flight.
  std::deque<std::int64_t> sent_at_ns;
  // Open loop only: requests that came due while the connection had its in-flight cap; each is
  // sent when an answer frees a place, and timed from when it was due.
  std::deque<std::int64_t> due_at_ns;
  // Requests appended to the output whose send time is taken when they are flushed.
  std::size_t unstamped = 0;
  // Whether epoll is watching this connection for writability.
  bool watching_output = false;

 private:
  FileDescriptor fd_;
  std::string output_;
  std::size_t written_ = 0;
  std::vector<char> input_;
  std::size_t input_start_ = 0;
  std::size_t input_end_ = 0;
};

}  // namespace drl::bench
