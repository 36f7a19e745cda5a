#include "raw_connection.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <msgpack.hpp>

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kFrameBodyBytesMax = 16 * 1024 * 1024;

int millis_left(SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

void pack_str(msgpack::packer<StringSink>& pk, std::string_view text) {
  pk.pack_str(static_cast<std::uint32_t>(text.size()));
  pk.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

}  // namespace

RawConnection::RawConnection(const std::string& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    throw std::runtime_error(socket_path + ": socket path too long");
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error_number = errno;
    ::close(fd_);
    fd_ = -1;
    throw std::runtime_error(socket_path + ": connect: " + std::strerror(error_number));
  }
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(other.fd_), buffer_(std::move(other.buffer_)), discarded_(other.discarded_) {
  other.fd_ = -1;
}

void RawConnection::send_bytes(std::string_view bytes, Millis timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!bytes.empty()) {
    const std::size_t sent = send_some(bytes);
    bytes.remove_prefix(sent);
    if (bytes.empty()) break;
    if (sent == 0) {
      pollfd ready{fd_, POLLOUT, 0};
      if (::poll(&ready, 1, millis_left(deadline)) == 0) {
        throw std::runtime_error("timed out sending to drld (it stopped reading)");
      }
    }
  }
}

std::size_t RawConnection::send_some(std::string_view bytes) {
  for (;;) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    throw std::runtime_error(std::string("send: ") + std::strerror(errno));
  }
}

void RawConnection::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

bool RawConnection::frame_buffered(std::string& body) {
  if (buffer_.size() < 4) return false;
  const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data());
  const std::size_t size = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                           (std::size_t{header[2]} << 8) | std::size_t{header[3]};
  if (size > kFrameBodyBytesMax) {
    throw std::runtime_error("drld sent a frame header announcing " + std::to_string(size) +
                             " bytes");
  }
  if (buffer_.size() < 4 + size) return false;
  body.assign(buffer_, 4, size);
  buffer_.erase(0, 4 + size);
  return true;
}

RawConnection::Read RawConnection::read_frame(std::string& body, Millis timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (frame_buffered(body)) return Read::frame;
    pollfd ready{fd_, POLLIN, 0};
    const int polled = ::poll(&ready, 1, millis_left(deadline));
    if (polled < 0 && errno == EINTR) continue;
    if (polled == 0) return Read::timeout;
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return Read::closed;
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    if (errno == ECONNRESET || errno == EPIPE) return Read::closed;
    throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
  }
}

bool RawConnection::wait_closed(Millis timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  std::string body;
  for (;;) {
    switch (read_frame(body, Millis(millis_left(deadline)))) {
      case Read::frame:
        ++discarded_;
        break;
      case Read::closed:
        return true;
      case Read::timeout:
        return false;
    }
  }
}

std::string header_of(std::uint32_t body_bytes) {
  std::string header(4, '\0');
  header[0] = static_cast<char>((body_bytes >> 24) & 0xff);
  header[1] = static_cast<char>((body_bytes >> 16) & 0xff);
  header[2] = static_cast<char>((body_bytes >> 8) & 0xff);
  header[3] = static_cast<char>(body_bytes & 0xff);
  return header;
}

std::string frame_of(std::string_view body) {
  return header_of(static_cast<std::uint32_t>(body.size())) + std::string(body);
}

std::string ping_frame(std::uint64_t id) {
  std::string body;
  StringSink sink{body};
  msgpack::packer<StringSink> pk(sink);
  pk.pack_map(3);
  pack_str(pk, "v");
  pk.pack_uint64(1);
  pack_str(pk, "id");
  pk.pack_uint64(id);
  pack_str(pk, "op");
  pack_str(pk, "ping");
  return frame_of(body);
}

std::string check_frame(std::uint64_t id, std::string_view policy, std::string_view key,
                        std::uint64_t cost) {
  std::string body;
  StringSink sink{body};
  msgpack::packer<StringSink> pk(sink);
  pk.pack_map(6);
  pack_str(pk, "v");
  pk.pack_uint64(1);
  pack_str(pk, "id");
  pk.pack_uint64(id);
  pack_str(pk, "op");
  pack_str(pk, "check");
  pack_str(pk, "policy");
  pack_str(pk, policy);
  pack_str(pk, "key");
  pack_str(pk, key);
  pack_str(pk, "cost");
  pk.pack_uint64(cost);
  return frame_of(body);
}

ResponseFields decode_response(std::string_view body) {
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(body.data(), body.size(), offset);
  } catch (const std::exception& error) {
    throw std::runtime_error(std::string("drld sent a response that is not msgpack: ") +
                             error.what());
  }
  if (offset != body.size()) throw std::runtime_error("trailing bytes after a response map");
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::MAP) throw std::runtime_error("a response that is not a map");
  ResponseFields fields;
  for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) throw std::runtime_error("a response key not a string");
    const std::string name(kv.key.via.str.ptr, kv.key.via.str.size);
    std::string text;
    switch (kv.val.type) {
      case msgpack::type::STR:
        text.assign(kv.val.via.str.ptr, kv.val.via.str.size);
        break;
      case msgpack::type::POSITIVE_INTEGER:
        text = std::to_string(kv.val.via.u64);
        break;
      case msgpack::type::NEGATIVE_INTEGER:
        text = std::to_string(kv.val.via.i64);
        break;
      case msgpack::type::BOOLEAN:
        text = kv.val.via.boolean ? "true" : "false";
        break;
      default: {
        std::ostringstream out;
        out << kv.val;
        text = out.str();
      }
    }
    fields.emplace(name, std::move(text));
  }
  return fields;
}

}  // namespace drl::integration
