#include "tools/bench/load_loop.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

namespace drl::bench {
namespace {

constexpr std::uint64_t kTimerToken = UINT64_MAX;
constexpr int kEventsPerWait = 256;

}  // namespace

std::int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

LoadLoop::LoadLoop(LoadPlan plan, std::unique_ptr<TargetProtocol> protocol, KeyGenerator keys,
                   std::vector<int> connection_fds)
    : plan_(plan), protocol_(std::move(protocol)), keys_(std::move(keys)) {
  for (const int fd : connection_fds) connections_.push_back(std::make_unique<LoadConnection>(fd));
  if (plan_.inflight == 0) plan_.inflight = 1;
  if (plan_.rate_per_s > 0) {
    period_ns_ = std::max<std::int64_t>(1, std::llround(1e9 / plan_.rate_per_s));
  }
}

LoadLoop::~LoadLoop() {
  if (timer_fd_ >= 0) ::close(timer_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void LoadLoop::fail(std::string why) {
  if (result_.error.empty()) result_.error = std::move(why);
}

bool LoadLoop::may_send(std::int64_t now_ns) const {
  if (plan_.request_budget != 0) return result_.sent < plan_.request_budget;
  return now_ns < plan_.stop_ns;
}

bool LoadLoop::finished(std::int64_t now_ns) const {
  if (!result_.error.empty()) return true;
  if (plan_.request_budget != 0) return answered_total_ >= plan_.request_budget;
  return now_ns >= plan_.stop_ns;
}

void LoadLoop::append_request(LoadConnection& connection, std::int64_t due_ns) {
  protocol_->append_request(connection.output(), keys_);
  ++result_.sent;
  if (due_ns != 0) {
    connection.sent_at_ns.push_back(due_ns);
  } else {
    ++connection.unstamped;
  }
}

void LoadLoop::flush(LoadConnection& connection) {
  if (connection.unstamped != 0) {
    const std::int64_t now = monotonic_ns();
    connection.sent_at_ns.insert(connection.sent_at_ns.end(), connection.unstamped, now);
    connection.unstamped = 0;
  }
  if (!connection.flush()) {
    fail("cannot write to the server: the connection broke");
    return;
  }
  const bool want_output = connection.output_pending();
  if (want_output == connection.watching_output) return;
  epoll_event event{};
  event.events = EPOLLIN | (want_output ? EPOLLOUT : 0U);
  event.data.ptr = &connection;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection.fd(), &event);
  connection.watching_output = want_output;
}

void LoadLoop::start_closed_loop() {
  for (auto& connection : connections_) {
    for (std::uint32_t i = 0; i < plan_.inflight && may_send(plan_.start_ns); ++i) {
      append_request(*connection, 0);
    }
    flush(*connection);
  }
}

void LoadLoop::arm_timer(std::int64_t at_ns) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(at_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(at_ns % 1'000'000'000);
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

// Open loop: every request due by now goes to the next connection in turn, or waits in that
// connection's backlog when it already has `inflight` requests outstanding.
void LoadLoop::dispatch_due(std::int64_t now_ns) {
  while (next_due_ns_ <= now_ns && may_send(next_due_ns_)) {
    LoadConnection& connection = *connections_[next_connection_];
    next_connection_ = (next_connection_ + 1) % connections_.size();
    if (connection.due_at_ns.empty() && connection.sent_at_ns.size() < plan_.inflight) {
      append_request(connection, next_due_ns_);
    } else {
      connection.due_at_ns.push_back(next_due_ns_);
      result_.backlog_max = std::max(result_.backlog_max, connection.due_at_ns.size());
    }
    next_due_ns_ += period_ns_;
  }
  for (auto& connection : connections_) {
    if (!connection->output().empty()) flush(*connection);
  }
  if (may_send(next_due_ns_)) arm_timer(next_due_ns_);
}

void LoadLoop::on_readable(LoadConnection& connection) {
  const LoadConnection::ReadStatus status = connection.read_available();
  const std::int64_t now = monotonic_ns();
  const bool counted =
      now >= plan_.measure_from_ns && (plan_.request_budget != 0 || now < plan_.stop_ns);
  for (;;) {
    AnswerTally tally;
    const AnswerScan scan = protocol_->scan_answer(connection.unread(), tally);
    if (scan.status == AnswerScan::Status::incomplete) break;
    if (scan.status == AnswerScan::Status::malformed) {
      fail("the server sent an answer the bench cannot read");
      return;
    }
    connection.consume(scan.bytes);
    if (connection.sent_at_ns.empty()) {
      fail("the server answered a request that was not sent");
      return;
    }
    const std::int64_t sent_at = connection.sent_at_ns.front();
    connection.sent_at_ns.pop_front();
    ++answered_total_;
    if (counted) {
      result_.latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - sent_at)));
      ++result_.answered;
      result_.tally.add(tally);
    }
    if (period_ns_ == 0 && may_send(now)) append_request(connection, 0);
  }
  while (!connection.due_at_ns.empty() && connection.sent_at_ns.size() < plan_.inflight) {
    append_request(connection, connection.due_at_ns.front());
    connection.due_at_ns.pop_front();
  }
  if (!connection.output().empty()) flush(connection);
  if (status == LoadConnection::ReadStatus::closed) fail("the server closed the connection");
  if (status == LoadConnection::ReadStatus::failed) fail("cannot read from the server");
}

LoadResult LoadLoop::run() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    fail(std::string("epoll_create1: ") + std::strerror(errno));
    return std::move(result_);
  }
  for (auto& connection : connections_) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = connection.get();
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connection->fd(), &event) != 0) {
      fail(std::string("epoll_ctl: ") + std::strerror(errno));
      return std::move(result_);
    }
  }
  if (period_ns_ != 0) {
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd_ < 0) {
      fail(std::string("timerfd_create: ") + std::strerror(errno));
      return std::move(result_);
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kTimerToken;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &event);
  }

  while (monotonic_ns() < plan_.start_ns) {
    const std::int64_t wait_ns = plan_.start_ns - monotonic_ns();
    if (wait_ns > 0)
      ::usleep(static_cast<useconds_t>(std::min<std::int64_t>(wait_ns / 1000 + 1, 100'000)));
  }
  if (period_ns_ == 0) {
    start_closed_loop();
  } else {
    next_due_ns_ = plan_.start_ns;
    dispatch_due(monotonic_ns());
  }

  epoll_event events[kEventsPerWait];
  for (;;) {
    const std::int64_t now = monotonic_ns();
    if (finished(now)) break;
    int timeout_ms = 1000;
    if (plan_.request_budget == 0) {
      timeout_ms = static_cast<int>(
          std::min<std::int64_t>(1000, (plan_.stop_ns - now + 999'999) / 1'000'000));
    }
    const int ready = ::epoll_wait(epoll_fd_, events, kEventsPerWait, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail(std::string("epoll_wait: ") + std::strerror(errno));
      break;
    }
    for (int i = 0; i < ready && result_.error.empty(); ++i) {
      if (events[i].data.u64 == kTimerToken) {
        std::uint64_t expirations = 0;
        (void)!::read(timer_fd_, &expirations, sizeof expirations);
        dispatch_due(monotonic_ns());
        continue;
      }
      auto& connection = *static_cast<LoadConnection*>(events[i].data.ptr);
      if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) on_readable(connection);
      if (result_.error.empty() && (events[i].events & EPOLLOUT) != 0) flush(connection);
    }
  }
  return std::move(result_);
}

}  // namespace drl::bench
