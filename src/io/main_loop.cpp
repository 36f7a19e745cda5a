#include "io/main_loop.hpp"

#include "io/main_loop_impl.hpp"

namespace drl::io {

MainLoop::MainLoop() : impl_(std::make_unique<Impl>()) {
  uv_loop_init(&impl_->loop);
}

MainLoop::~MainLoop() {
  close_handles();
  uv_run(&impl_->loop, UV_RUN_DEFAULT);
  closed_cleanly_ = uv_loop_close(&impl_->loop) == 0;
}

void MainLoop::on_signal(int signum, std::function<void(int)> handler) {
  Impl::Signal& signal = impl_->signals.emplace_back();
  signal.handler = std::move(handler);
  uv_signal_init(&impl_->loop, &signal.handle);
  signal.handle.data = &signal;
  uv_signal_start(
      &signal.handle,
      [](uv_signal_t* handle, int received) {
        static_cast<Impl::Signal*>(handle->data)->handler(received);
      },
      signum);
}

void MainLoop::every(std::uint64_t interval_ms, std::function<void()> tick) {
  Impl::Ticker& ticker = impl_->tickers.emplace_back();
  ticker.tick = std::move(tick);
  uv_timer_init(&impl_->loop, &ticker.handle);
  ticker.handle.data = &ticker;
  uv_timer_start(
      &ticker.handle, [](uv_timer_t* handle) { static_cast<Impl::Ticker*>(handle->data)->tick(); },
      interval_ms, interval_ms);
}

void MainLoop::run() {
  uv_run(&impl_->loop, UV_RUN_DEFAULT);
}

void MainLoop::close_handles() {
  for (Impl::Signal& signal : impl_->signals) {
    auto* handle = reinterpret_cast<uv_handle_t*>(&signal.handle);
    if (!uv_is_closing(handle)) uv_close(handle, nullptr);
  }
  for (Impl::Ticker& ticker : impl_->tickers) {
    auto* handle = reinterpret_cast<uv_handle_t*>(&ticker.handle);
    if (!uv_is_closing(handle)) uv_close(handle, nullptr);
  }
}

}  // namespace drl::io
