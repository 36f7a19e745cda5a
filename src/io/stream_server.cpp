#include "io/stream_server.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "io/log.hpp"
#include "io/main_loop_impl.hpp"
#include "io/worker.hpp"

namespace drl::io {
namespace {

RateLimitedLog g_reject_log(LogLevel::warn, 5, 10'000);
RateLimitedLog g_accept_error_log(LogLevel::warn, 5, 10'000);

}  // namespace

struct StreamServer::Poll {
  uv_poll_t handle{};
  StreamServer* owner = nullptr;

  static void on_readable(uv_poll_t* handle, int status, int) {
    auto* poll = static_cast<Poll*>(handle->data);
    if (poll->owner == nullptr) return;
    if (status < 0) {
      g_accept_error_log.log(poll->owner->options_.name + " poll error: " + uv_strerror(status));
      return;
    }
    poll->owner->accept_all();
  }
};

StreamServer::StreamServer(MainLoop& main_loop, int listen_fd, const ServerOptions& options,
                           const StreamProtocolFactory& factory, std::string reject_bytes)
    : loop_(main_loop),
      listen_fd_(listen_fd),
      options_(options),
      reject_bytes_(std::move(reject_bytes)),
      reserve_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
  for (std::size_t i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, options_, factory(i, counters_), counters_));
  }
}

StreamServer::~StreamServer() {
  stop();
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

void StreamServer::start() {
  for (auto& worker : workers_) worker->start();
  poll_ = new Poll;
  poll_->owner = this;
  uv_poll_init(native_loop(loop_), &poll_->handle, listen_fd_);
  poll_->handle.data = poll_;
  uv_poll_start(&poll_->handle, UV_READABLE, Poll::on_readable);
}

void StreamServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (poll_ != nullptr) {
    poll_->owner = nullptr;
    uv_poll_stop(&poll_->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle),
             [](uv_handle_t* handle) { delete static_cast<Poll*>(handle->data); });
    poll_ = nullptr;
  }
  for (auto& worker : workers_) worker->request_stop();
  for (auto& worker : workers_) worker->join();
}

void StreamServer::accept_all() {
  // Bounded per callback so that a connection storm cannot starve the rest of the main loop.
  for (int accepted = 0; accepted < 256; ++accepted) {
    // The reserve descriptor went to a connection while out of descriptors: the one an eviction
    // gave back is the reserve again, before any connection can take it.
    if (reserve_fd_ < 0) {
      reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (reserve_fd_ >= 0) evictions_pending_ = 0;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    // Without a reserve the process is out of descriptors even when this accept got one (one
    // that an eviction gave back an instant ago): the connection must make room in turn.
    bool out_of_fds = options_.evict_when_full && reserve_fd_ < 0;
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      if (errno == ECONNABORTED) continue;
      if (errno != EMFILE && errno != ENFILE) {
        // Other failures: logged; the next readiness retries.
        g_accept_error_log.log(options_.name + " accept failed: " + std::strerror(errno));
        return;
      }
      // Out of descriptors, the pending connection would stay in the backlog and keep the
      // listening socket readable: the main loop would spin on it. The descriptor kept in
      // reserve makes room to accept it.
      const int error = errno;
      fd = accept_with_reserve_fd();
      if (fd < 0) {
        // No reserve: something else took the descriptor the last eviction gave back. Another
        // eviction gives one back (the next readiness retries), else the backlog would wait.
        if (reserve_fd_ < 0 && options_.evict_when_full && evictions_pending_ == 0) {
          ++evictions_pending_;
          workers_[next_worker_]->request_eviction();
          next_worker_ = (next_worker_ + 1) % workers_.size();
        }
        return;
      }
      if (!options_.evict_when_full) {
        turn_away(fd, std::string(std::strerror(error)) +
                          " (raise the open files limit, or lower max_connections)");
        counters_.connections_rejected_no_fds.fetch_add(1, std::memory_order_relaxed);
        reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        continue;
      }
      // It takes the place of the connection silent longest, whose descriptor then becomes the
      // reserve again.
      out_of_fds = true;
    }
    const std::uint64_t open = counters_.connections_open.load(std::memory_order_relaxed);
    const bool full = out_of_fds || open >= options_.max_connections;
    if (full && !options_.evict_when_full) {
      counters_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      turn_away(fd, "max_connections (" + std::to_string(options_.max_connections) + ") reached");
      continue;
    }
    counters_.connections_open.fetch_add(1, std::memory_order_relaxed);
    counters_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    if (out_of_fds) ++evictions_pending_;
    workers_[next_worker_]->adopt(fd, full);
    next_worker_ = (next_worker_ + 1) % workers_.size();
  }
}

int StreamServer::accept_with_reserve_fd() {
  if (reserve_fd_ < 0) return -1;
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd;
}

void StreamServer::turn_away(int fd, const std::string& why) {
  [[maybe_unused]] const ssize_t sent =
      ::send(fd, reject_bytes_.data(), reject_bytes_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd);
  g_reject_log.log(options_.name + " connection rejected: " + why);
}

}  // namespace drl::io
