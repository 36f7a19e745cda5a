// io-internal: what MainLoop holds. Only io sources include this (it includes libuv).
#pragma once

#include <uv.h>

#include <functional>
#include <list>

#include "io/main_loop.hpp"

namespace drl::io {

struct MainLoop::Impl {
  uv_loop_t loop{};
  struct Signal {
    uv_signal_t handle{};
    std::function<void(int)> handler;
  };
  struct Ticker {
    uv_timer_t handle{};
    std::function<void()> tick;
  };
  // Stable addresses: libuv keeps pointers to the handles.
  std::list<Signal> signals;
  std::list<Ticker> tickers;
};

inline uv_loop_t* native_loop(MainLoop& loop) {
  return &loop.impl().loop;
}

}  // namespace drl::io
