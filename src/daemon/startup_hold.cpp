#include "daemon/startup_hold.hpp"

#include <chrono>

#include "io/clock.hpp"

namespace drl::daemon {

StartupHold::StartupHold(core::MonoTime started, std::int64_t warmup_max_ms)
    : warmup_(started, warmup_max_ms) {
  if (!warmup_.holds(started)) open_.store(true, std::memory_order_release);
}

bool StartupHold::wait() {
  if (is_open()) return false;
  checks_held_.fetch_add(1, std::memory_order_relaxed);
  std::unique_lock lock(mutex_);
  for (;;) {
    const core::MonoTime now = io::mono_now();
    if (!warmup_.holds(now)) {
      open_.store(true, std::memory_order_release);
      return true;
    }
    // mono_now reads CLOCK_MONOTONIC, steady_clock's clock on Linux: the deadline converts.
    const std::chrono::steady_clock::time_point until{
        std::chrono::nanoseconds(warmup_.deadline().ns)};
    opened_.wait_until(lock, until);
  }
}

void StartupHold::open(core::MonoTime now) {
  {
    std::lock_guard lock(mutex_);
    warmup_.synced(now);
  }
  open_.store(true, std::memory_order_release);
  opened_.notify_all();
}

bool StartupHold::holds(core::MonoTime now) const {
  std::lock_guard lock(mutex_);
  return warmup_.holds(now);
}

bool StartupHold::synced_in_time() const {
  std::lock_guard lock(mutex_);
  return warmup_.synced_in_time();
}

std::int64_t StartupHold::held_ms(core::MonoTime now) const {
  std::lock_guard lock(mutex_);
  return warmup_.held_ms(now);
}

}  // namespace drl::daemon
