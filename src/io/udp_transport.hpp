// A UDP socket for the cluster protocol. Addresses are numeric "ip:port" strings ("[v6]:port"
// for IPv6): names are resolved once at start-up (resolve_address), never on the loop, so that
// an address learned from the network cannot make the daemon wait for DNS. Datagrams that
// arrive truncated are dropped.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "drl/result.hpp"
#include "io/udp_counters.hpp"

namespace drl::io {

class UdpTransport {
 public:
  using Receiver = std::function<void(const std::string& from, std::string_view bytes)>;

  UdpTransport(uv_loop_t* loop, Receiver receiver);
  ~UdpTransport();
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;

  Result<Done> bind(const std::string& address);
  void send(const std::string& address, std::string_view bytes);
  // Main loop thread; the handle is released by the loop afterwards.
  void close();

  // The bound address with the port the system chose (for port 0).
  std::string local_address() const;
  const UdpCounters& counters() const { return counters_; }

 private:
  struct Handle;
  bool resolve(const std::string& address, sockaddr_storage& out);

  Handle* handle_ = nullptr;
  Receiver receiver_;
  std::map<std::string, sockaddr_storage> resolved_;
  UdpCounters counters_;
};

}  // namespace drl::io
