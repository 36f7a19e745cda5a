// The floor: a server that does nothing but answer. It reads frames of the drl client protocol
// (4-byte big-endian length, then the body) from Unix stream connections and answers each with
// the same fixed small frame, in order, with one write per read, as drld does. One thread, plain
// epoll. Whatever drl-bench measures against it is the cost of the socket round trip and the
// client itself; a real limiter can only add to it.
#pragma once

#include <string>

namespace drl::bench {

class EchoServer {
 public:
  explicit EchoServer(std::string socket_path);

  // Serves until SIGINT or SIGTERM, then removes the socket file. Returns the exit status.
  int run();

 private:
  std::string socket_path_;
};

}  // namespace drl::bench
