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
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      if (errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && turn_away_with_reserve_fd()) continue;
      // Other failures: logged; the next readiness retries.
      g_accept_error_log.log(options_.name + " accept failed: " + std::strerror(errno));
      return;
    }
    const std::uint64_t open = counters_.connections_open.load(std::memory_order_relaxed);
    const bool full = open >= options_.max_connections;
    if (full && !options_.evict_when_full) {
      counters_.connections_rejected.fetch_add(1, std::memory_order_relaxed);
      g_reject_log.log(options_.name + " connection rejected: max_connections (" +
                       std::to_string(options_.max_connections) + ") reached");
      [[maybe_unused]] const ssize_t sent =
          ::send(fd, reject_bytes_.data(), reject_bytes_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      continue;
    }
    counters_.connections_open.fetch_add(1, std::memory_order_relaxed);
    counters_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
    workers_[next_worker_]->adopt(fd, full);
    next_worker_ = (next_worker_ + 1) % workers_.size();
  }
}

// Out of file descriptors, the pending connection would stay in the backlog and keep the listening
// socket readable: the main loop would spin on it. The descriptor kept in reserve makes room to
// accept it, answer `unavailable` and close it, which empties the backlog one connection at a time.
bool StreamServer::turn_away_with_reserve_fd() {
  const int error = errno;
  if (reserve_fd_ < 0) return false;
  ::close(reserve_fd_);
  reserve_fd_ = -1;
  const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t sent =
        ::send(fd, reject_bytes_.data(), reject_bytes_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::close(fd);
    counters_.connections_rejected_no_fds.fetch_add(1, std::memory_order_relaxed);
    g_reject_log.log(options_.name + " connection rejected: " + std::strerror(error) +
                     " (raise the open files limit, or lower max_connections)");
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd >= 0;
}

}  // namespace drl::io
