#include "io/cluster_driver.hpp"

#include <algorithm>
#include <cstdlib>

#include "io/clock.hpp"
#include "io/main_loop_impl.hpp"
#include "io/udp_transport.hpp"

namespace drl::io {
namespace {

// How often other threads' view of the replication is refreshed, at most.
constexpr std::int64_t kPublishIntervalNs = 20'000'000;

}  // namespace

struct ClusterDriver::Timer {
  uv_timer_t timer{};
  ClusterDriver* owner = nullptr;
};

struct ClusterDriver::Wakeup {
  uv_async_t async{};
  ClusterDriver* owner = nullptr;
};

ClusterDriver::ClusterDriver(MainLoop& loop, core::ClusterSignals& signals,
                             core::OriginTable& origins)
    : loop_(loop), signals_(signals), origins_(origins) {}

ClusterDriver::~ClusterDriver() {
  stop();
}

Result<std::string> ClusterDriver::bind(const std::string& bind_address) {
  transport_ = std::make_unique<UdpTransport>(
      native_loop(loop_),
      [this](const std::string& from, std::string_view bytes) { on_receive(from, bytes); });
  if (Result<Done> bound = transport_->bind(bind_address); !bound.ok()) {
    transport_->close();
    transport_.reset();
    return bound.error();
  }
  bind_address_ = transport_->local_address();
  return bind_address_;
}

void ClusterDriver::start(wire::ClusterNode& node) {
  node_ = &node;
  timer_ = new Timer;
  timer_->owner = this;
  uv_timer_init(native_loop(loop_), &timer_->timer);
  timer_->timer.data = timer_;
  {
    std::lock_guard lock(wakeup_mutex_);
    wakeup_ = new Wakeup;
    wakeup_->owner = this;
    wakeup_->async.data = wakeup_;
    uv_async_init(native_loop(loop_), &wakeup_->async, [](uv_async_t* handle) {
      auto* wakeup = static_cast<Wakeup*>(handle->data);
      ClusterDriver* owner = wakeup->owner;
      if (owner == nullptr || owner->node_ == nullptr) return;
      owner->node_->rights_now(mono_now(), wall_now());
      owner->flush_and_rearm();
    });
  }
  on_deadline();
}

void ClusterDriver::send_rights_now() {
  std::lock_guard lock(wakeup_mutex_);
  if (wakeup_ != nullptr) uv_async_send(&wakeup_->async);
}

void ClusterDriver::stop() {
  if (node_ != nullptr && transport_ && timer_ != nullptr) {
    // A clean stop sends what was counted since the last round, so that nothing is lost.
    node_->final_round(mono_now(), wall_now());
    for (const wire::OutgoingDatagram& datagram : node_->take_datagrams()) {
      transport_->send(datagram.address, datagram.bytes);
    }
  }
  {
    std::lock_guard lock(wakeup_mutex_);
    if (wakeup_ != nullptr) {
      wakeup_->owner = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_->async),
               [](uv_handle_t* handle) { delete static_cast<Wakeup*>(handle->data); });
      wakeup_ = nullptr;
    }
  }
  if (timer_ != nullptr) {
    timer_->owner = nullptr;
    uv_timer_stop(&timer_->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_->timer),
             [](uv_handle_t* handle) { delete static_cast<Timer*>(handle->data); });
    timer_ = nullptr;
  }
  if (transport_) transport_->close();
}

void ClusterDriver::on_receive(const std::string& from, std::string_view bytes) {
  if (node_ == nullptr) return;
  node_->on_datagram(mono_now(), wall_now(), from, bytes);
  if (receive_hook_) receive_hook_();
  flush_and_rearm();
}

void ClusterDriver::on_deadline() {
  node_->on_timer(mono_now(), wall_now());
  flush_and_rearm();
}

void ClusterDriver::flush_and_rearm() {
  for (const wire::OutgoingDatagram& datagram : node_->take_datagrams()) {
    transport_->send(datagram.address, datagram.bytes);
  }
  const core::MonoTime now = mono_now();
  if (now.ns - last_publish_.ns >= kPublishIntervalNs) publish(now);
  if (timer_ == nullptr) return;
  const core::MonoTime deadline = node_->next_deadline();
  const std::int64_t wait_ms =
      std::max<std::int64_t>(0, (deadline.ns - now.ns + 999'999) / 1'000'000);
  uv_timer_start(
      &timer_->timer,
      [](uv_timer_t* handle) {
        auto* timer = static_cast<Timer*>(handle->data);
        if (timer->owner != nullptr) timer->owner->on_deadline();
      },
      static_cast<std::uint64_t>(wait_ms), 0);
}

void ClusterDriver::publish(core::MonoTime now) {
  last_publish_ = now;
  const core::Replicator& replicator = node_->replicator();
  signals_.reachable_permille.store(replicator.reachable_permille(now), std::memory_order_relaxed);
  signals_.staleness_ms.store(replicator.staleness_ms(now), std::memory_order_relaxed);
  ClusterSnapshot snapshot;
  snapshot.node_id = replicator.config().node_id;
  snapshot.incarnation = replicator.config().incarnation;
  snapshot.bind_address = bind_address_;
  snapshot.peers = replicator.peers(now);
  snapshot.replication = replicator.stats();
  snapshot.datagrams = node_->stats();
  if (transport_) snapshot.udp = transport_->counters();
  snapshot.reachable_permille = replicator.reachable_permille(now);
  snapshot.staleness_ms = replicator.staleness_ms(now);
  for (const core::PeerStatus& peer : snapshot.peers) {
    if (peer.rtt_us >= 0 && peer.state == core::PeerState::alive) {
      snapshot.max_abs_clock_offset_ms =
          std::max(snapshot.max_abs_clock_offset_ms, std::abs(peer.clock_offset_ms));
    }
  }
  snapshot.origins = origins_.size();
  snapshot.origins_full_drops = origins_.full_drops();
  std::lock_guard<std::mutex> guard(snapshot_mutex_);
  snapshot_ = std::move(snapshot);
}

ClusterSnapshot ClusterDriver::snapshot() const {
  std::lock_guard<std::mutex> guard(snapshot_mutex_);
  return snapshot_;
}

}  // namespace drl::io
