// Cluster addresses: "host:port", or "[v6]:port" for IPv6. Compared as strings, so peers are
// named by their numeric form, resolved once at start-up.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
// Every address "host:port" resolves to (in the resolver's order, each once, at most `max`), as
// numeric "ip:port" strings. Blocks: at start only (SeedResolver resolves later off the loop).
Result<std::vector<std::string>> resolve_addresses(const std::string& address, int family,
                                                   std::size_t max);
// The numeric "ip:port" strings of a getaddrinfo answer with `port`, each once, at most `max`.
std::vector<std::string> addresses_of(const addrinfo* found, std::uint16_t port, std::size_t max);

// An address of one of this host's network interfaces.
struct InterfaceAddress {
  std::string ip;  // numeric, without brackets or port
  unsigned prefix_length = 0;
  bool loopback = false;  // on a loopback interface, which receives its whole prefix
};

// This host's interface addresses (getifaddrs), IPv4 and IPv6; empty if they cannot be read.
std::vector<InterfaceAddress> interface_addresses();

// True if a datagram sent to `peer` (numeric "ip:port") reaches the socket bound to `bound`
// (numeric, as bound): the address is this node's own. A specific bind is reached at its own
// address only; a wildcard one (0.0.0.0, [::]) at every address of `interfaces` with its port,
// the whole prefix of a loopback interface (127.0.0.0/8), and, for [::], the IPv4 ones in
// mapped form (::ffff:a.b.c.d).
bool is_own_address(const std::string& peer, const std::string& bound,
                    const std::vector<InterfaceAddress>& interfaces);

}  // namespace drl::io
