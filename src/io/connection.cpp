#include "io/connection.hpp"

#include <unistd.h>

#include <cstdlib>

#include "core/bounds.hpp"
#include "io/clock.hpp"
#include "io/log.hpp"
#include "io/worker.hpp"

namespace drl::io {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

struct WriteRequest {
  uv_write_t request{};
  std::string data;
};

RateLimitedLog g_read_error_log(LogLevel::warn, 10, 10'000);

}  // namespace

Connection::Connection(Worker& worker, std::size_t max_frame_bytes)
    : worker_(worker), reader_(max_frame_bytes) {}

void Connection::open(Worker& worker, int fd) {
  auto* connection = new Connection(worker, worker.options().max_frame_bytes);
  if (uv_pipe_init(worker.loop(), &connection->pipe_, 0) != 0) {
    ::close(fd);
    delete connection;
    worker.counters().connections_open.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  connection->pipe_.data = connection;
  worker.attach(connection);
  if (uv_pipe_open(&connection->pipe_, fd) != 0) {
    ::close(fd);
    connection->close();
    return;
  }
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&connection->pipe_), on_alloc, on_read) != 0) {
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
  uv_close(reinterpret_cast<uv_handle_t*>(&pipe_), on_close);
}

void Connection::on_close(uv_handle_t* handle) {
  auto* connection = static_cast<Connection*>(handle->data);
  connection->worker_.detach(connection);
  connection->worker_.counters().connections_open.fetch_sub(1, std::memory_order_relaxed);
  delete connection;
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  auto* connection = static_cast<Connection*>(handle->data);
  const std::span<char> room = connection->reader_.prepare(kReadChunkBytes);
  *buf = uv_buf_init(room.data(), static_cast<unsigned>(std::min(room.size(), kReadChunkBytes)));
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
  auto* connection = static_cast<Connection*>(stream->data);
  if (nread > 0) {
    const std::int64_t now_ns = mono_now().ns;
    connection->last_read_ns_ = now_ns;
    if (connection->reader_.buffered_bytes() == 0) connection->frame_started_ns_ = now_ns;
    connection->reader_.commit(static_cast<std::size_t>(nread));
    connection->process();
    // What remains buffered is the beginning of a frame still to come.
    if (connection->reader_.buffered_bytes() == 0) connection->frame_started_ns_ = 0;
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing read, nothing to do
  if (nread != UV_EOF) {
    connection->worker_.counters().read_errors.fetch_add(1, std::memory_order_relaxed);
    g_read_error_log.log(std::string("client connection read error: ") +
                         uv_strerror(static_cast<int>(nread)));
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

void Connection::process() {
  FrameHandler& handler = worker_.handler();
  handler.begin(wall_now());
  std::string_view frame;
  for (;;) {
    const wire::FrameReader::Status status = reader_.next(frame);
    if (status == wire::FrameReader::Status::need_more) break;
    if (status == wire::FrameReader::Status::too_large) {
      worker_.counters().frames_oversized.fetch_add(1, std::memory_order_relaxed);
      handler.on_oversized(worker_.options().max_frame_bytes + 1, out_);
      uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
      reading_ = false;
      close_when_flushed_ = true;
      break;
    }
    worker_.counters().frames.fetch_add(1, std::memory_order_relaxed);
    handler.on_frame(frame, out_);
  }
  reader_.compact();
  flush();
  if (close_when_flushed_ && queued_bytes() == 0) close();
}

void Connection::flush() {
  if (out_.empty() || closing_) return;
  // Nothing queued: write straight from out_, which keeps its capacity for the next answers and
  // needs no request allocated. What the socket does not take now goes through uv_write.
  if (queued_bytes() == 0) {
    uv_buf_t direct = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    const int written = uv_try_write(reinterpret_cast<uv_stream_t*>(&pipe_), &direct, 1);
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
  const int status =
      uv_write(&request->request, reinterpret_cast<uv_stream_t*>(&pipe_), &buf, 1, on_write);
  if (status != 0) {
    delete request;
    close();
    return;
  }
  if (output_progress_ns_ == 0) output_progress_ns_ = mono_now().ns;
  pause_if_backlogged();
}

std::size_t Connection::queued_bytes() const {
  return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&pipe_));
}

void Connection::pause_if_backlogged() {
  if (reading_ && queued_bytes() > worker_.options().max_pending_output_bytes) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe_));
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
    if (uv_read_start(reinterpret_cast<uv_stream_t*>(&connection->pipe_), on_alloc, on_read) == 0) {
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
  } else if (reading_ && passed(frame_started_ns_, options.frame_timeout_ms)) {
    // Only while we read: a frame left half-read because we paused is not the client's fault.
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
