#include "io/worker.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "io/clock.hpp"
#include "io/connection.hpp"

namespace drl::io {

Worker::Worker(std::size_t index, const ServerOptions& options,
               std::unique_ptr<FrameHandler> handler, ServerCounters& counters)
    : index_(index), options_(options), handler_(std::move(handler)), counters_(counters) {
  if (uv_loop_init(&loop_) != 0 || uv_async_init(&loop_, &wakeup_, on_wakeup) != 0) {
    std::fprintf(stderr, "drl: worker %zu: cannot initialise its event loop\n", index_);
    std::abort();
  }
  wakeup_.data = this;
  uv_timer_init(&loop_, &sweep_);
  sweep_.data = this;
  uv_timer_start(&sweep_, on_sweep, 1000, 1000);
  // The sweep alone must not keep the loop running once the worker stops.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
}

void Worker::on_sweep(uv_timer_t* timer) {
  auto* worker = static_cast<Worker*>(timer->data);
  const std::int64_t now_ns = mono_now().ns;
  for (Connection* connection = worker->connections_; connection != nullptr;) {
    Connection* next = connection->next;  // a closed connection stays listed until its callback
    connection->close_if_timed_out(now_ns);
    connection = next;
  }
}

Worker::~Worker() {
  request_stop();
  join();
  if (!thread_.joinable() && !stopped_) {
    // Never started: close the loop's own handles here.
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop_);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  stopped_ = true;
}

void Worker::adopt(int fd) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stop_requested_) {
      ::close(fd);
      counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    incoming_.push_back(fd);
  }
  uv_async_send(&wakeup_);
}

void Worker::request_stop() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stop_requested_) return;
    stop_requested_ = true;
  }
  uv_async_send(&wakeup_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::attach(Connection* connection) {
  connection->next = connections_;
  connection->prev = nullptr;
  if (connections_ != nullptr) connections_->prev = connection;
  connections_ = connection;
}

void Worker::detach(Connection* connection) {
  if (connection->prev != nullptr) connection->prev->next = connection->next;
  if (connection->next != nullptr) connection->next->prev = connection->prev;
  if (connections_ == connection) connections_ = connection->next;
  connection->next = connection->prev = nullptr;
}

void Worker::on_wakeup(uv_async_t* async) {
  auto* worker = static_cast<Worker*>(async->data);
  std::vector<int> fds;
  bool stop = false;
  {
    std::lock_guard<std::mutex> guard(worker->mutex_);
    fds.swap(worker->incoming_);
    stop = worker->stop_requested_;
  }
  for (int fd : fds) {
    if (stop) {
      ::close(fd);
      worker->counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
    } else {
      Connection::open(*worker, fd);
    }
  }
  if (stop) {
    for (Connection* connection = worker->connections_; connection != nullptr;
         connection = connection->next) {
      connection->close();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&worker->wakeup_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&worker->sweep_), nullptr);
  }
}

}  // namespace drl::io
