// Cluster addresses: "host:port", or "[v6]:port" for IPv6. Compared as strings, so peers are
// named by their numeric form, resolved once at start-up.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "drl/result.hpp"

namespace drl::io {

// "host:port" -> (host, port). False if the form is wrong.
bool split_host_port(const std::string& address, std::string& host, std::uint16_t& port);

// The numeric form ("ip:port" / "[ipv6]:port") of a socket address.
std::string format_address(const sockaddr* address);

// "host:port" with the host resolved, in numeric form. Blocking (DNS): for start-up only.
// `family`: AF_INET or AF_INET6 to accept only that family (a peer must be reachable from
// the bound socket), or AF_UNSPEC.
Result<std::string> resolve_address(const std::string& address, int family = AF_UNSPEC);

}  // namespace drl::io
