#include "io/udp_transport.hpp"

#include <netdb.h>

#include <cstring>

namespace drl::io {
namespace {

constexpr std::size_t kReceiveBufferBytes = 65536;
constexpr std::size_t kResolvedMax = 4096;

}  // namespace

struct UdpTransport::Handle {
  uv_udp_t udp{};
  UdpTransport* owner = nullptr;
  char buffer[kReceiveBufferBytes];
};

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
    uv_ip6_name(v6, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(v6->sin6_port));
  }
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
  uv_ip4_name(v4, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(v4->sin_port));
}

UdpTransport::UdpTransport(uv_loop_t* loop, Receiver receiver) : receiver_(std::move(receiver)) {
  handle_ = new Handle;
  handle_->owner = this;
  uv_udp_init(loop, &handle_->udp);
  handle_->udp.data = handle_;
}

UdpTransport::~UdpTransport() {
  close();
}

void UdpTransport::close() {
  if (handle_ == nullptr) return;
  Handle* handle = handle_;
  handle_ = nullptr;
  handle->owner = nullptr;
  uv_udp_recv_stop(&handle->udp);
  uv_close(reinterpret_cast<uv_handle_t*>(&handle->udp),
           [](uv_handle_t* h) { delete static_cast<Handle*>(h->data); });
}

bool UdpTransport::resolve(const std::string& address, sockaddr_storage& out) {
  if (const auto it = resolved_.find(address); it != resolved_.end()) {
    out = it->second;
    return true;
  }
  std::string host;
  std::uint16_t port = 0;
  if (!split_host_port(address, host, port)) return false;
  std::memset(&out, 0, sizeof out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (uv_ip4_addr(host.c_str(), port, v4) != 0 && uv_ip6_addr(host.c_str(), port, v6) != 0) {
    // A host name: resolved once (peers are few and their names stable).
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) return false;
    std::memcpy(&out, found->ai_addr, found->ai_addrlen);
    ::freeaddrinfo(found);
    if (out.ss_family == AF_INET6) {
      v6->sin6_port = htons(port);
    } else {
      v4->sin_port = htons(port);
    }
  }
  if (resolved_.size() >= kResolvedMax) resolved_.clear();
  resolved_.emplace(address, out);
  return true;
}

Result<Done> UdpTransport::bind(const std::string& address) {
  sockaddr_storage where{};
  if (!resolve(address, where)) {
    return Error{Errc::io_error, "cluster bind address '" + address + "' is not host:port"};
  }
  if (const int status = uv_udp_bind(&handle_->udp, reinterpret_cast<const sockaddr*>(&where), 0);
      status != 0) {
    return Error{Errc::io_error, "cannot bind UDP " + address + ": " + uv_strerror(status)};
  }
  const auto on_alloc = [](uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<Handle*>(handle->data);
    *buf = uv_buf_init(self->buffer, sizeof self->buffer);
  };
  const auto on_receive = [](uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf,
                             const sockaddr* from, unsigned flags) {
    auto* self = static_cast<Handle*>(udp->data);
    if (self->owner == nullptr) return;
    if (nread < 0) {
      ++self->owner->counters_.receive_errors;
      return;
    }
    if (nread == 0 || from == nullptr) return;  // nothing, or the end of a batch
    if ((flags & UV_UDP_PARTIAL) != 0) {
      ++self->owner->counters_.truncated;
      return;
    }
    self->owner->receiver_(format_address(from),
                           std::string_view(buf->base, static_cast<std::size_t>(nread)));
  };
  if (const int status = uv_udp_recv_start(&handle_->udp, on_alloc, on_receive); status != 0) {
    return Error{Errc::io_error, "cannot receive on UDP " + address + ": " + uv_strerror(status)};
  }
  return Done{};
}

std::string UdpTransport::local_address() const {
  sockaddr_storage where{};
  int length = sizeof where;
  if (handle_ == nullptr ||
      uv_udp_getsockname(&handle_->udp, reinterpret_cast<sockaddr*>(&where), &length) != 0) {
    return {};
  }
  return format_address(reinterpret_cast<const sockaddr*>(&where));
}

void UdpTransport::send(const std::string& address, std::string_view bytes) {
  if (handle_ == nullptr) return;
  sockaddr_storage to{};
  if (!resolve(address, to)) {
    ++counters_.resolve_errors;
    return;
  }
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  // Datagrams are small and the socket buffer large: sending now almost always works. When it
  // does not, the datagram is dropped like any lost datagram; anti-entropy repairs it.
  const int sent = uv_udp_try_send(&handle_->udp, &buf, 1, reinterpret_cast<const sockaddr*>(&to));
  if (sent < 0) ++counters_.send_errors;
}

}  // namespace drl::io
