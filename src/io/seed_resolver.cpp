#include "io/seed_resolver.hpp"

#include <netdb.h>

#include <algorithm>
#include <utility>

#include "core/bounds.hpp"
#include "io/address.hpp"
#include "io/log.hpp"
#include "io/main_loop_impl.hpp"

namespace drl::io {

struct SeedResolver::Timer {
  uv_timer_t timer{};
  SeedResolver* owner = nullptr;
};

// One getaddrinfo in flight. Its owner is cleared at stop(); libuv still calls back (with
// UV_ECANCELED if it was cancelled), and the callback frees it.
struct SeedResolver::Lookup {
  uv_getaddrinfo_t request{};
  SeedResolver* owner = nullptr;
  std::string seed;
  std::uint16_t port = 0;
};

SeedResolver::SeedResolver(MainLoop& loop, std::vector<std::string> seeds, int family,
                           std::uint64_t interval_ms, Found found)
    : loop_(loop),
      seeds_(std::move(seeds)),
      family_(family),
      interval_ms_(interval_ms),
      found_(std::move(found)) {}

SeedResolver::~SeedResolver() {
  stop();
}

void SeedResolver::start() {
  if (interval_ms_ == 0 || seeds_.empty() || timer_ != nullptr) return;
  timer_ = new Timer;
  timer_->owner = this;
  uv_timer_init(native_loop(loop_), &timer_->timer);
  timer_->timer.data = timer_;
  uv_timer_start(
      &timer_->timer,
      [](uv_timer_t* handle) {
        auto* timer = static_cast<Timer*>(handle->data);
        if (timer->owner != nullptr) timer->owner->round();
      },
      interval_ms_, interval_ms_);
}

void SeedResolver::stop() {
  for (Lookup* lookup : in_flight_) {
    lookup->owner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&lookup->request));
  }
  in_flight_.clear();
  if (timer_ != nullptr) {
    timer_->owner = nullptr;
    uv_timer_stop(&timer_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_->timer),
             [](uv_handle_t* handle) { delete static_cast<Timer*>(handle->data); });
    timer_ = nullptr;
  }
}

void SeedResolver::round() {
  for (const std::string& seed : seeds_) {
    // One lookup per seed at a time: a resolver slower than the interval is not piled up.
    const bool pending = std::any_of(in_flight_.begin(), in_flight_.end(),
                                     [&](const Lookup* lookup) { return lookup->seed == seed; });
    std::string host;
    std::uint16_t port = 0;
    if (pending || !split_host_port(seed, host, port)) continue;
    auto* lookup = new Lookup;
    lookup->owner = this;
    lookup->seed = seed;
    lookup->port = port;
    lookup->request.data = lookup;
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_family = family_;
    ++lookups_;
    const int started = uv_getaddrinfo(
        native_loop(loop_), &lookup->request,
        [](uv_getaddrinfo_t* request, int status, addrinfo* found) {
          auto* done = static_cast<Lookup*>(request->data);
          if (done->owner != nullptr) {
            SeedResolver& owner = *done->owner;
            std::erase(owner.in_flight_, done);
            owner.answered(done->seed, status, found);
          }
          if (found != nullptr) uv_freeaddrinfo(found);
          delete done;
        },
        host.c_str(), nullptr, &hints);
    if (started != 0) {
      delete lookup;
      answered(seed, started, nullptr);
      continue;
    }
    in_flight_.push_back(lookup);
  }
}

void SeedResolver::answered(const std::string& seed, int status, const ::addrinfo* found) {
  const bool was_failing = std::find(failing_.begin(), failing_.end(), seed) != failing_.end();
  if (status != 0 || found == nullptr) {
    ++errors_;
    if (!was_failing) {
      failing_.push_back(seed);
      log_warn("[cluster] seed " + seed + " cannot be resolved (" + uv_strerror(status) +
               "); trying again every " + std::to_string(interval_ms_ / 1000) + " s");
    }
    return;
  }
  if (was_failing) {
    std::erase(failing_, seed);
    log_info("[cluster] seed " + seed + " resolves again");
  }
  std::string host;
  std::uint16_t port = 0;
  split_host_port(seed, host, port);
  found_(seed, addresses_of(found, port, bounds::seed_addresses_max));
}

}  // namespace drl::io
