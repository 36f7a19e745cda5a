#include "io/address.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace drl::io {
namespace {

// An IP address as bytes: 4 for IPv4, 16 for IPv6; size 0 if `text` is neither.
struct IpBytes {
  std::array<unsigned char, 16> bytes{};
  std::size_t size = 0;
};

IpBytes parse_ip(const std::string& text) {
  IpBytes ip;
  if (::inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) {
    ip.size = 4;
  } else if (::inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) {
    ip.size = 16;
  }
  return ip;
}

bool in_prefix(const IpBytes& ip, const IpBytes& network, unsigned prefix_length) {
  if (ip.size != network.size || ip.size == 0) return false;
  for (std::size_t bit = 0; bit < prefix_length && bit < ip.size * 8; ++bit) {
    const unsigned mask = 0x80u >> (bit % 8);
    if ((ip.bytes[bit / 8] & mask) != (network.bytes[bit / 8] & mask)) return false;
  }
  return true;
}

unsigned prefix_of(const sockaddr* netmask, std::size_t size) {
  if (netmask == nullptr) return static_cast<unsigned>(size * 8);
  const unsigned char* bytes =
      netmask->sa_family == AF_INET6
          ? reinterpret_cast<const sockaddr_in6*>(netmask)->sin6_addr.s6_addr
          : reinterpret_cast<const unsigned char*>(
                &reinterpret_cast<const sockaddr_in*>(netmask)->sin_addr);
  unsigned length = 0;
  for (std::size_t i = 0; i < size; ++i) {
    for (unsigned mask = 0x80; mask != 0 && (bytes[i] & mask) != 0; mask >>= 1) ++length;
    if (bytes[i] != 0xff) break;
  }
  return length;
}

// ::ffff:a.b.c.d
bool v4_mapped(const IpBytes& ip) {
  constexpr std::array<unsigned char, 12> kPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.size == 16 && std::equal(kPrefix.begin(), kPrefix.end(), ip.bytes.begin());
}

// Whether `ip` is an address of `interfaces` (or in a loopback interface's prefix).
bool on_interface(const IpBytes& ip, const std::vector<InterfaceAddress>& interfaces) {
  for (const InterfaceAddress& address : interfaces) {
    const IpBytes local = parse_ip(address.ip);
    if (in_prefix(
            ip, local,
            address.loopback ? address.prefix_length : static_cast<unsigned>(local.size * 8))) {
      return true;
    }
  }
  return false;
}

}  // namespace

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
  Result<std::vector<std::string>> all = resolve_addresses(address, family, 1);
  if (!all.ok()) return all.error();
  if (all.value().empty()) {
    return Error{Errc::io_error, "cannot resolve '" + address + "': no IPv4 or IPv6 address"};
  }
  return std::move(all.value().front());
}

std::vector<std::string> addresses_of(const addrinfo* found, std::uint16_t port, std::size_t max) {
  std::vector<std::string> out;
  for (const addrinfo* at = found; at != nullptr && out.size() < max; at = at->ai_next) {
    if (at->ai_family != AF_INET && at->ai_family != AF_INET6) continue;
    sockaddr_storage where{};
    std::memcpy(&where, at->ai_addr, at->ai_addrlen);
    if (where.ss_family == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&where)->sin6_port = htons(port);
    } else {
      reinterpret_cast<sockaddr_in*>(&where)->sin_port = htons(port);
    }
    std::string text = format_address(reinterpret_cast<const sockaddr*>(&where));
    if (std::find(out.begin(), out.end(), text) == out.end()) out.push_back(std::move(text));
  }
  return out;
}

Result<std::vector<std::string>> resolve_addresses(const std::string& address, int family,
                                                   std::size_t max) {
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
  std::vector<std::string> out = addresses_of(found, port, max);
  ::freeaddrinfo(found);
  return out;
}

std::vector<InterfaceAddress> interface_addresses() {
  std::vector<InterfaceAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    const sockaddr* address = entry->ifa_addr;
    if (address == nullptr || (address->sa_family != AF_INET && address->sa_family != AF_INET6)) {
      continue;
    }
    std::string host;
    std::uint16_t port = 0;
    // "ip:port" / "[ip]:port" with port 0: the host part is the numeric address.
    if (!split_host_port(format_address(address), host, port)) continue;
    const std::size_t size = address->sa_family == AF_INET6 ? 16 : 4;
    out.push_back(InterfaceAddress{host, prefix_of(entry->ifa_netmask, size),
                                   (entry->ifa_flags & IFF_LOOPBACK) != 0});
  }
  ::freeifaddrs(list);
  return out;
}

bool is_own_address(const std::string& peer, const std::string& bound,
                    const std::vector<InterfaceAddress>& interfaces) {
  std::string peer_host;
  std::string bound_host;
  std::uint16_t peer_port = 0;
  std::uint16_t bound_port = 0;
  if (!split_host_port(peer, peer_host, peer_port) ||
      !split_host_port(bound, bound_host, bound_port) || peer_port != bound_port) {
    return false;
  }
  const IpBytes peer_ip = parse_ip(peer_host);
  const IpBytes bound_ip = parse_ip(bound_host);
  if (peer_ip.size == 0 || bound_ip.size == 0) return false;
  const bool wildcard = std::all_of(bound_ip.bytes.begin(), bound_ip.bytes.begin() + bound_ip.size,
                                    [](unsigned char byte) { return byte == 0; });
  if (!wildcard) {
    return peer_ip.size == bound_ip.size &&
           std::equal(peer_ip.bytes.begin(), peer_ip.bytes.begin() + peer_ip.size,
                      bound_ip.bytes.begin());
  }
  if (peer_ip.size == bound_ip.size && !v4_mapped(peer_ip))
    return on_interface(peer_ip, interfaces);
  // [::] without IPV6_V6ONLY (drld does not set it) also receives IPv4, in mapped form.
  if (bound_ip.size == 16 && v4_mapped(peer_ip)) {
    IpBytes v4;
    std::copy(peer_ip.bytes.begin() + 12, peer_ip.bytes.end(), v4.bytes.begin());
    v4.size = 4;
    return on_interface(v4, interfaces);
  }
  return false;
}

}  // namespace drl::io
