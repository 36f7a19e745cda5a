#include "io/tcp_listener.hpp"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "io/address.hpp"

namespace drl::io {

Result<TcpListener> TcpListener::open(const std::string& address, int backlog) {
  const auto failed = [&address](const std::string& why) {
    return Error{Errc::io_error, "cannot listen on " + address + ": " + why};
  };
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(address, host, port)) return failed("not host:port ([v6]:port for IPv6)");
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int status = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      status != 0 || found == nullptr) {
    return failed(std::string("cannot resolve '") + host + "': " + ::gai_strerror(status));
  }
  // A name with several addresses ("localhost": 127.0.0.1 and ::1) binds its first IPv4 one,
  // where proxies configured with 127.0.0.1 look; an IPv6-only name binds its first.
  const addrinfo* chosen = found;
  for (const addrinfo* candidate = found; candidate != nullptr; candidate = candidate->ai_next) {
    if (candidate->ai_family == AF_INET) {
      chosen = candidate;
      break;
    }
  }
  sockaddr_storage where{};
  const socklen_t where_length = chosen->ai_addrlen;
  std::memcpy(&where, chosen->ai_addr, chosen->ai_addrlen);
  ::freeaddrinfo(found);

  const int fd = ::socket(where.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failed(std::strerror(errno));
  const int on = 1;
  // A restarted drld binds again at once, though its old connections are in TIME_WAIT.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (where.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&where), where_length) != 0) {
    const int error = errno;
    ::close(fd);
    std::string why = std::strerror(error);
    if (error == EADDRINUSE) why += " (another process serves this port: choose another)";
    return failed(why);
  }
  if (::listen(fd, backlog) != 0) {
    const int error = errno;
    ::close(fd);
    return failed(std::strerror(error));
  }
  sockaddr_storage bound{};
  socklen_t bound_length = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length) != 0) {
    const int error = errno;
    ::close(fd);
    return failed(std::strerror(error));
  }
  return TcpListener(fd, format_address(reinterpret_cast<const sockaddr*>(&bound)));
}

TcpListener::TcpListener(TcpListener&& other) noexcept
    : fd_(other.fd_), address_(std::move(other.address_)) {
  other.fd_ = -1;
}

TcpListener::~TcpListener() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace drl::io
