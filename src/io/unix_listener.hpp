// The listening Unix socket of the client protocol, with the file mode and group asked for.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "drl/result.hpp"

namespace drl::io {

class UnixListener {
 public:
  // Creates the parent directory if missing (mode 0755), replaces a stale socket file left by
  // a crashed daemon, and refuses to start if another process is listening on `path`.
  // `owner` and `group` (names; empty: unchanged) are set on the socket file.
  static Result<UnixListener> open(const std::string& path, std::uint32_t mode,
                                   const std::string& owner, const std::string& group, int backlog);

  UnixListener(UnixListener&& other) noexcept;
  UnixListener& operator=(UnixListener&&) = delete;
  ~UnixListener();  // closes the socket and removes the file if it is still ours

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  UnixListener(int fd, std::string path, dev_t device, ino_t inode)
      : fd_(fd), path_(std::move(path)), device_(device), inode_(inode) {}

  int fd_ = -1;
  std::string path_;
  dev_t device_ = 0;
  ino_t inode_ = 0;
};

}  // namespace drl::io
