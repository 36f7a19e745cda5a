// Counters of the cluster's UDP socket.
#pragma once

#include <cstdint>

namespace drl::io {

struct UdpCounters {
  std::uint64_t send_errors = 0;     // the socket refused a datagram (dropped, like a loss)
  std::uint64_t resolve_errors = 0;  // a peer address that is not host:port or does not resolve
  std::uint64_t receive_errors = 0;
  std::uint64_t truncated = 0;  // datagrams larger than the receive buffer
};

}  // namespace drl::io
