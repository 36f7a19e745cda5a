#include "io/connection.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/clock.hpp"
#include "io/log.hpp"
#include "io/worker.hpp"

namespace drl::io {
namespace {

struct WriteRequest {
  uv_write_t request{};
  std::string data;
};

RateLimitedLog g_read_error_log(LogLevel::warn, 10, 10'000);

// The peer's IP address of a TCP socket ("127.0.0.1", "::1"); empty if unknown.
std::string peer_ip(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return {};
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    if (::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text) == nullptr) return {};
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text) == nullptr) return {};
  } else {
    return {};
  }
  return text;
}

}  // namespace

Connection::Connection(Worker& worker) : worker_(worker) {}

void Connection::open(Worker& worker, int fd) {
  const bool tcp = worker.options().transport == Transport::tcp;
  ConnectionInfo info;
  if (tcp) info.remote_address = peer_ip(fd);
  auto* connection = new Connection(worker);
  const int initialised = tcp ? uv_tcp_init(worker.loop(), &connection->handle_.tcp)
                              : uv_pipe_init(worker.loop(), &connection->handle_.pipe, 0);
  if (initialised != 0) {
    ::close(fd);
    delete connection;
    worker.counters().connections_open.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  connection->handle_.handle.data = connection;
  worker.attach(connection);
  const int opened =
      tcp ? uv_tcp_open(&connection->handle_.tcp, fd) : uv_pipe_open(&connection->handle_.pipe, fd);
  if (opened != 0) {
    ::close(fd);
    connection->close();
    return;
  }
  // Answers are written whole, in one write per read: Nagle would only delay them.
  if (tcp) uv_tcp_nodelay(&connection->handle_.tcp, 1);
  connection->session_ = worker.protocol().open_session(info);
  if (uv_read_start(connection->stream(), on_alloc, on_read) != 0) {
    connection->close();
    return;
  }
  connection->reading_ = true;
  connection->last_read_ns_ = mono_now().ns;
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  uv_close(&handle_.handle, on_close);
}

void Connection::on_close(uv_handle_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  connection->worker_.detach(connection);
  connection->worker_.counters().connections_open.fetch_sub(1, std::memory_order_relaxed);
  delete connection;
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* connection = static_cast<Connection*>(handle->data);
  const std::span<char> room = connection->session_->read_buffer();
  *buf = uv_buf_init(room.data(), static_cast<unsigned>(room.size()));
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* connection = static_cast<Connection*>(stream->data);
  if (nread > 0) {
    const std::int64_t now_ns = mono_now().ns;
    connection->last_read_ns_ = now_ns;
    connection->worker_.touch(connection);
    StreamSession& session = *connection->session_;
    const bool was_in_progress = session.request_in_progress();
    const StreamSession::ReadOutcome outcome =
        session.on_read(static_cast<std::size_t>(nread), connection->out_);
    // The request timeout runs from the first byte of a request that is still unfinished.
    if (!session.request_in_progress()) {
      connection->request_started_ns_ = 0;
    } else if (!was_in_progress || outcome.completed_request) {
      connection->request_started_ns_ = now_ns;
    }
    if (outcome.next == StreamSession::Next::close_when_flushed) {
      uv_read_stop(stream);
      connection->reading_ = false;
      connection->close_when_flushed_ = true;
    }
    connection->flush();
    if (connection->close_when_flushed_ && connection->queued_bytes() == 0) connection->close();
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing read, nothing to do
  if (nread == UV_ECONNRESET) {
    // The client went away without a clean close (as HTTP clients and load tools do when they
    // stop): nothing to answer, and nothing worth a warning.
    connection->close();
    return;
  }
  if (nread != UV_EOF) {
    connection->worker_.counters().read_errors.fetch_add(1, std::memory_order_relaxed);
    g_read_error_log.log(connection->worker_.options().name +
                         " connection read error: " + uv_strerror(static_cast<int>(nread)));
    connection->close();
    return;
  }
  // The client finished sending: answer what is pending, then close.
  uv_read_stop(stream);
  connection->reading_ = false;
  if (connection->queued_bytes() == 0) {
    connection->close();
  } else {
    connection->close_when_flushed_ = true;
  }
}

void Connection::flush() {
  if (out_.empty() || closing_) return;
  // Nothing queued: write straight from out_, which keeps its capacity for the next answers and
  // needs no request allocated. What the socket does not take now goes through uv_write.
  if (queued_bytes() == 0) {
    uv_buf_t direct = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    const int written = uv_try_write(stream(), &direct, 1);
    if (written == static_cast<int>(out_.size())) {
      out_.clear();
      return;
    }
    if (written > 0)
      out_.erase(0, static_cast<std::size_t>(written));
    else if (written != UV_EAGAIN) {
      close();
      return;
    }
  }
  auto* request = new WriteRequest;
  request->data.swap(out_);
  request->request.data = this;
  uv_buf_t buf = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
  const int status = uv_write(&request->request, stream(), &buf, 1, on_write);
  if (status != 0) {
    delete request;
    close();
    return;
  }
  if (output_progress_ns_ == 0) output_progress_ns_ = mono_now().ns;
  pause_if_backlogged();
}

std::size_t Connection::queued_bytes() const {
  return uv_stream_get_write_queue_size(stream());
}

void Connection::pause_if_backlogged() {
  if (reading_ && queued_bytes() > worker_.options().max_pending_output_bytes) {
    uv_read_stop(stream());
    reading_ = false;
    worker_.counters().output_pauses.fetch_add(1, std::memory_order_relaxed);
  }
}

void Connection::on_write(uv_write_t* request, int status) {
  auto* write = reinterpret_cast<WriteRequest*>(request);
  auto* connection = static_cast<Connection*>(request->data);
  delete write;
  if (connection->closing_) return;
  if (status != 0) {
    connection->close();
    return;
  }
  const std::size_t queued = connection->queued_bytes();
  connection->output_progress_ns_ = queued == 0 ? 0 : mono_now().ns;
  if (connection->close_when_flushed_) {
    if (queued == 0) connection->close();
    return;
  }
  if (!connection->reading_ &&
      queued <= connection->worker_.options().max_pending_output_bytes / 2) {
    if (uv_read_start(connection->stream(), on_alloc, on_read) == 0) {
      connection->reading_ = true;
    }
  }
}

bool Connection::close_if_timed_out(std::int64_t now_ns) {
  if (closing_) return false;
  const ServerOptions& options = worker_.options();
  const auto passed = [now_ns](std::int64_t since, std::uint64_t timeout_ms) {
    return timeout_ms != 0 && since != 0 &&
           now_ns - since > static_cast<std::int64_t>(timeout_ms) * 1'000'000;
  };
  std::atomic<std::uint64_t>* reason = nullptr;
  if (passed(output_progress_ns_, options.stalled_output_timeout_ms)) {
    reason = &worker_.counters().timed_out_stalled_output;
  } else if (reading_ && passed(request_started_ns_, options.frame_timeout_ms)) {
    // Only while we read: a request left half-read because we paused is not the client's fault.
    reason = &worker_.counters().timed_out_frame;
  } else if (queued_bytes() == 0 && passed(last_read_ns_, options.idle_timeout_ms)) {
    reason = &worker_.counters().timed_out_idle;
  }
  if (reason == nullptr) return false;
  reason->fetch_add(1, std::memory_order_relaxed);
  close();
  return true;
}

}  // namespace drl::io
