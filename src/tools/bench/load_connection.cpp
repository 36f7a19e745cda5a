#include "tools/bench/load_connection.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace drl::bench {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

}  // namespace

LoadConnection::LoadConnection(int fd) : fd_(fd), input_(2 * kReadChunkBytes) {}

bool LoadConnection::flush() {
  while (written_ < output_.size()) {
    const ssize_t n =
        ::send(fd_.get(), output_.data() + written_, output_.size() - written_, MSG_NOSIGNAL);
    if (n > 0) {
      written_ += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return false;
    }
  }
  output_.clear();
  written_ = 0;
  return true;
}

LoadConnection::ReadStatus LoadConnection::read_available() {
  for (;;) {
    if (input_start_ == input_end_) {
      input_start_ = input_end_ = 0;
    } else if (input_.size() - input_end_ < kReadChunkBytes) {
      std::memmove(input_.data(), input_.data() + input_start_, input_end_ - input_start_);
      input_end_ -= input_start_;
      input_start_ = 0;
      if (input_.size() - input_end_ < kReadChunkBytes) input_.resize(input_end_ + kReadChunkBytes);
    }
    const std::size_t room = input_.size() - input_end_;
    const ssize_t n = ::recv(fd_.get(), input_.data() + input_end_, room, 0);
    if (n > 0) {
      input_end_ += static_cast<std::size_t>(n);
      // A short read means the socket is drained: skip the recv that would say EAGAIN.
      if (static_cast<std::size_t>(n) < room) return ReadStatus::ok;
    } else if (n == 0) {
      return ReadStatus::closed;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return ReadStatus::ok;
    } else if (errno != EINTR) {
      return ReadStatus::failed;
    }
  }
}

}  // namespace drl::bench
