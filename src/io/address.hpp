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
Result<std::string> resolve_address(const std::string& address);

}  // namespace drl::io
