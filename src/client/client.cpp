#include "drl/client.hpp"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "config/config.hpp"
#include "core/bounds.hpp"
#include "wire/frame_reader.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"

namespace drl {
namespace {

Error io_failure(const std::string& what, int error_number) {
  return Error{Errc::io_error, what + ": " + std::strerror(error_number)};
}

}  // namespace

struct Client::Impl {
  int fd = -1;
  std::string path;
  Options options;
  std::uint64_t next_id = 1;
  std::string out;
  wire::FrameReader reader{bounds::frame_bytes_max};

  ~Impl() { disconnect(); }

  void disconnect() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  int timeout_ms() const { return static_cast<int>(options.timeout.count()); }

  Result<Done> send_pending() {
    if (fd < 0) return Error{Errc::io_error, "not connected"};
    std::size_t sent = 0;
    while (sent < out.size()) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd ready{fd, POLLOUT, 0};
        if (::poll(&ready, 1, timeout_ms()) <= 0) {
          disconnect();
          return Error{Errc::io_error, path + ": timed out sending"};
        }
        continue;
      }
      const int error_number = errno;
      disconnect();
      return io_failure(path + ": send", error_number);
    }
    out.clear();
    return Done{};
  }

  Result<wire::Response> receive() {
    if (fd < 0) return Error{Errc::io_error, "not connected"};
    for (;;) {
      std::string_view frame;
      const auto status = reader.next(frame);
      if (status == wire::FrameReader::Status::frame) {
        Result<wire::Response> response = wire::decode_response(frame);
        if (!response.ok()) disconnect();
        return response;
      }
      if (status == wire::FrameReader::Status::too_large) {
        disconnect();
        return Error{Errc::protocol_error, "the server sent an oversized frame"};
      }
      reader.compact();
      const std::span<char> room = reader.prepare(64 * 1024);
      pollfd ready{fd, POLLIN, 0};
      const int polled = ::poll(&ready, 1, timeout_ms());
      if (polled == 0) {
        disconnect();
        return Error{Errc::io_error, path + ": timed out waiting for an answer"};
      }
      if (polled < 0 && errno == EINTR) continue;
      const ssize_t n = ::recv(fd, room.data(), room.size(), 0);
      if (n > 0) {
        reader.commit(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      const int error_number = errno;
      disconnect();
      if (n == 0) return Error{Errc::io_error, path + ": the server closed the connection"};
      return io_failure(path + ": recv", error_number);
    }
  }

  // Sends what is queued and returns the next answer, turning a request-level error into an
  // Error result.
  Result<wire::Response> round_trip() {
    if (Result<Done> sent = send_pending(); !sent.ok()) return sent.error();
    Result<wire::Response> response = receive();
    if (!response.ok()) return response.error();
    if (response->error) return *response->error;
    return response;
  }
};

std::string Client::default_socket_path() {
  const char* from_env = std::getenv("DRL_SOCKET");
  if (from_env != nullptr && from_env[0] != '\0') return from_env;
  return std::string(config::default_socket_path);
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&& other) noexcept = default;
Client& Client::operator=(Client&& other) noexcept = default;
Client::~Client() = default;

Result<Client> Client::connect(const std::string& socket_path) {
  return connect(socket_path, Options{});
}

Result<Client> Client::connect(const std::string& socket_path, Options options) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    return Error{Errc::io_error, socket_path + ": socket path is too long"};
  }
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return io_failure("socket", errno);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int error_number = errno;
    ::close(fd);
    std::string hint;
    struct stat status {};
    const bool exists = ::stat(socket_path.c_str(), &status) == 0;
    if (exists && !S_ISSOCK(status.st_mode)) {
      // connect() says "Connection refused" for a directory or a plain file: say what it is.
      hint = std::string(" (") + (S_ISDIR(status.st_mode) ? "a directory" : "not a socket") +
             ": set --socket or DRL_SOCKET to drld's socket file, e.g. " +
             std::string(config::default_socket_path) + ")";
    } else if (error_number == ENOENT || error_number == ECONNREFUSED) {
      hint = " (is drld running? set --socket or DRL_SOCKET)";
    } else if (error_number == EACCES) {
      hint = " (the socket's mode or group does not let this user in)";
    }
    return Error{Errc::io_error,
                 socket_path + ": cannot connect: " + std::strerror(error_number) + hint};
  }
  auto impl = std::make_unique<Impl>();
  impl->fd = fd;
  impl->path = socket_path;
  impl->options = options;
  return Client(std::move(impl));
}

Result<Decision> Client::check(const CheckRequest& request, bool detail) {
  return check_all(std::span<const CheckRequest>(&request, 1), detail);
}

Result<Decision> Client::check_all(std::span<const CheckRequest> items, bool detail) {
  wire::encode_check_request(impl_->out, impl_->next_id++, items, detail);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->decision);
}

Result<std::vector<Result<Decision>>> Client::check_batch(std::span<const CheckRequest> checks,
                                                          bool detail) {
  wire::encode_batch_request(impl_->out, impl_->next_id++, checks, detail);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (response->results.size() != checks.size()) {
    return Error{Errc::protocol_error, "the server answered a different number of checks"};
  }
  return std::move(response->results);
}

Result<std::uint64_t> Client::send_check(const CheckRequest& request, bool detail) {
  const std::uint64_t id = impl_->next_id++;
  wire::encode_check_request(impl_->out, id, std::span<const CheckRequest>(&request, 1), detail);
  if (Result<Done> sent = impl_->send_pending(); !sent.ok()) return sent.error();
  return id;
}

Result<Decision> Client::receive_decision() {
  Result<wire::Response> response = impl_->receive();
  if (!response.ok()) return response.error();
  if (response->error) return *response->error;
  return std::move(response->decision);
}

Result<std::string> Client::ping() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "ping");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->pong) return Error{Errc::protocol_error, "no pong in the answer to ping"};
  return response->server;
}

Result<std::string> Client::reload() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "reload");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return response->message;
}

Result<std::string> Client::status_json() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "status");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return response->status_json;
}

}  // namespace drl

namespace drl {

Result<StatusReport> Client::status() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "status");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->status);
}

Result<std::vector<CounterState>> Client::inspect(const CheckRequest& request) {
  wire::encode_inspect_request(impl_->out, impl_->next_id++, request);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->counters);
}

Result<std::string> Client::inspect_json(const CheckRequest& request) {
  wire::encode_inspect_request(impl_->out, impl_->next_id++, request);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->counters_json);
}

Result<OverrideInfo> Client::override_set(const OverrideSpec& spec) {
  wire::encode_override_set_request(impl_->out, impl_->next_id++, spec);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->override_record) {
    return Error{Errc::protocol_error, "no override in the answer to override_set"};
  }
  return std::move(*response->override_record);
}

Result<std::vector<OverrideInfo>> Client::override_list() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "override_list");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->overrides);
}

Result<std::string> Client::override_list_json() {
  wire::encode_op_request(impl_->out, impl_->next_id++, "override_list");
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  return std::move(response->overrides_json);
}

Result<std::uint64_t> Client::override_clear(const OverrideScopeSpec& scope) {
  wire::encode_override_clear_request(impl_->out, impl_->next_id++, scope, false);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->cleared) return Error{Errc::protocol_error, "no count in the answer"};
  return *response->cleared;
}

Result<OverrideInfo> Client::key_reset(const OverrideScopeSpec& scope, std::string_view reason) {
  wire::encode_key_reset_request(impl_->out, impl_->next_id++, scope, reason);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->override_record) {
    return Error{Errc::protocol_error, "no reset in the answer to key_reset"};
  }
  return std::move(*response->override_record);
}

Result<std::uint64_t> Client::override_clear_all() {
  wire::encode_override_clear_request(impl_->out, impl_->next_id++, OverrideScopeSpec{}, true);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->cleared) return Error{Errc::protocol_error, "no count in the answer"};
  return *response->cleared;
}

Result<Done> Client::report(std::string_view signal, double value) {
  wire::encode_report_request(impl_->out, impl_->next_id++, signal, value);
  Result<wire::Response> response = impl_->round_trip();
  if (!response.ok()) return response.error();
  if (!response->reported) return Error{Errc::protocol_error, "no 'reported' in the answer"};
  return Done{};
}

}  // namespace drl
