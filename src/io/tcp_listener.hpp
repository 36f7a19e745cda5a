// A listening TCP socket (the HTTP endpoint's), non-blocking, for a StreamServer.
#pragma once

#include <string>

#include "drl/result.hpp"

namespace drl::io {

class TcpListener {
 public:
  // `address` is "host:port" ("[v6]:port"); the host is resolved once, here. Port 0 picks a
  // free port. The error names the address and the system's reason ("Address already in use").
  static Result<TcpListener> open(const std::string& address, int backlog);

  TcpListener(TcpListener&& other) noexcept;
  TcpListener& operator=(TcpListener&&) = delete;
  ~TcpListener();

  int fd() const { return fd_; }
  // "ip:port" as bound, with the port actually chosen.
  const std::string& address() const { return address_; }

 private:
  TcpListener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}

  int fd_ = -1;
  std::string address_;
};

}  // namespace drl::io
