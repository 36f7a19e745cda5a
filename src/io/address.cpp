#include "io/address.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstring>

namespace drl::io {

bool split_host_port(const std::string& address, std::string& host, std::uint16_t& port) {
  std::string port_text;
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return false;
    }
    host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) return false;
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  if (port_text.empty() || port_text.size() > 5) return false;
  unsigned long value = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return !host.empty();
}

std::string format_address(const sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = {};
  if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
  ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
}

Result<std::string> resolve_address(const std::string& address, int family) {
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(address, host, port)) {
    return Error{Errc::io_error, "'" + address + "' is not host:port ([v6]:port for IPv6)"};
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_family = family;
  addrinfo* found = nullptr;
  const int status = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (status != 0 || found == nullptr) {
    return Error{Errc::io_error, "cannot resolve '" + host + "': " + ::gai_strerror(status)};
  }
  sockaddr_storage where{};
  std::memcpy(&where, found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  if (where.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&where)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&where)->sin_port = htons(port);
  }
  return format_address(reinterpret_cast<const sockaddr*>(&where));
}

}  // namespace drl::io
