#include "io/worker.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "io/clock.hpp"
#include "io/connection.hpp"

namespace drl::io {

Worker::Worker(std::size_t index, const ServerOptions& options,
               std::unique_ptr<StreamProtocol> protocol, ServerCounters& counters)
    : index_(index), options_(options), protocol_(std::move(protocol)), counters_(counters) {
  if (uv_loop_init(&loop_) != 0 || uv_async_init(&loop_, &wakeup_, on_wakeup) != 0) {
    std::fprintf(stderr, "drl: worker %zu: cannot initialise its event loop\n", index_);
    std::abort();
  }
  wakeup_.data = this;
  // libuv keeps a spare descriptor per loop for its own use, opened at the loop's first stream:
  // open it now, while descriptors are plenty, not later with one that an eviction freed.
  uv_tcp_init(&loop_, &descriptor_warmup_);
  uv_close(reinterpret_cast<uv_handle_t*>(&descriptor_warmup_), nullptr);
  uv_timer_init(&loop_, &sweep_);
  sweep_.data = this;
  uv_timer_start(&sweep_, on_sweep, 1000, 1000);
  // The sweep alone must not keep the loop running once the worker stops.
  uv_unref(reinterpret_cast<uv_handle_t*>(&sweep_));
}

void Worker::on_sweep(uv_timer_t* timer) {
  auto* worker = static_cast<Worker*>(timer->data);
  const std::int64_t now_ns = mono_now().ns;
  for (Connection* connection = worker->oldest_; connection != nullptr;) {
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

void Worker::adopt(int fd, bool make_room) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stop_requested_) {
      ::close(fd);
      counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    incoming_.push_back(Incoming{fd, make_room});
  }
  uv_async_send(&wakeup_);
}

void Worker::request_eviction() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (stop_requested_) return;
    incoming_.push_back(Incoming{-1, true});
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
  connection->prev = newest_;
  connection->next = nullptr;
  if (newest_ != nullptr) newest_->next = connection;
  newest_ = connection;
  if (oldest_ == nullptr) oldest_ = connection;
}

void Worker::detach(Connection* connection) {
  if (connection->prev != nullptr) connection->prev->next = connection->next;
  if (connection->next != nullptr) connection->next->prev = connection->prev;
  if (oldest_ == connection) oldest_ = connection->next;
  if (newest_ == connection) newest_ = connection->prev;
  connection->next = connection->prev = nullptr;
}

void Worker::touch(Connection* connection) {
  if (newest_ == connection) return;
  detach(connection);
  attach(connection);
}

void Worker::evict_least_recently_active() {
  // Closed connections stay listed until their close callback: skip them.
  for (Connection* connection = oldest_; connection != nullptr; connection = connection->next) {
    if (connection->closing()) continue;
    counters_.connections_evicted.fetch_add(1, std::memory_order_relaxed);
    connection->close();
    return;
  }
}

void Worker::on_wakeup(uv_async_t* async) {
  auto* worker = static_cast<Worker*>(async->data);
  std::vector<Incoming> arrived;
  bool stop = false;
  {
    std::lock_guard<std::mutex> guard(worker->mutex_);
    arrived.swap(worker->incoming_);
    stop = worker->stop_requested_;
  }
  for (const Incoming& incoming : arrived) {
    if (incoming.fd < 0) {
      // An eviction alone: the server is out of descriptors.
      if (!stop) worker->evict_least_recently_active();
    } else if (stop) {
      ::close(incoming.fd);
      worker->counters_.connections_open.fetch_sub(1, std::memory_order_relaxed);
    } else {
      if (incoming.make_room) worker->evict_least_recently_active();
      Connection::open(*worker, incoming.fd);
    }
  }
  if (stop) {
    for (Connection* connection = worker->oldest_; connection != nullptr;
         connection = connection->next) {
      connection->close();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&worker->wakeup_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&worker->sweep_), nullptr);
  }
}

}  // namespace drl::io
