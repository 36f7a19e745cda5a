#include "io/udp_transport.hpp"

#include "core/bounds.hpp"
#include "io/address.hpp"

#include <netdb.h>

#include <cstring>

namespace drl::io {
namespace {

constexpr std::size_t kReceiveBufferBytes = 65536;
static_assert(kReceiveBufferBytes >= bounds::datagram_bytes_max, "any datagram fits whole");

}  // namespace

struct UdpTransport::Handle {
  uv_udp_t udp{};
  UdpTransport* owner = nullptr;
  char buffer[kReceiveBufferBytes];
};

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
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&out)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&out)) != 0) {
    return false;  // not numeric: see resolve_address
  }
  if (resolved_.size() >= bounds::resolved_addresses_max) resolved_.clear();
  resolved_.emplace(address, out);
  return true;
}

Result<Done> UdpTransport::bind(const std::string& address) {
  sockaddr_storage where{};
  if (!resolve(address, where)) {
    return Error{Errc::io_error, "cluster bind address '" + address + "' is not a numeric ip:port"};
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
