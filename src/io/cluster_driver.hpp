// Drives a sans-IO wire::ClusterNode from a UDP socket and one timer on the main loop: reads
// the clocks once per callback, feeds the node, sends what it hands out, arms the timer at its
// next deadline, and publishes what the check path and `drl status` need.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/check_engine.hpp"
#include "drl/result.hpp"
#include "io/main_loop.hpp"
#include "io/udp_counters.hpp"
#include "wire/cluster_node.hpp"

namespace drl::io {

// A consistent copy of the replication state, for other threads.
struct ClusterSnapshot {
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::string bind_address;
  std::vector<core::PeerStatus> peers;
  core::ReplicationStats replication;
  wire::DatagramStats datagrams;
  UdpCounters udp;
  std::uint32_t reachable_permille = 1000;
  std::int64_t staleness_ms = 0;
  std::int64_t max_abs_clock_offset_ms = 0;
  std::uint64_t origins = 0;
  std::uint64_t origins_full_drops = 0;
};

class UdpTransport;

class ClusterDriver {
 public:
  ClusterDriver(MainLoop& loop, core::ClusterSignals& signals, core::OriginTable& origins);
  ~ClusterDriver();
  ClusterDriver(const ClusterDriver&) = delete;
  ClusterDriver& operator=(const ClusterDriver&) = delete;

  // Binds the UDP socket; returns the bound address (with the port chosen for port 0).
  Result<std::string> bind(const std::string& bind_address);
  // Starts driving `node` (which must outlive the driver) on the bound socket.
  void start(wire::ClusterNode& node);
  // Called on the main loop after every datagram the node took in (drld: a merged override
  // record is put in force at once, not at the next tick). Set before start().
  void set_receive_hook(std::function<void()> hook) { receive_hook_ = std::move(hook); }
  void stop();  // main loop thread
  // Any thread: the node sends its requests for rights at once, on the main loop (a check
  // waits for a grant). Nothing once stopped.
  void send_rights_now();

  ClusterSnapshot snapshot() const;  // any thread

 private:
  struct Timer;
  struct Wakeup;
  void on_receive(const std::string& from, std::string_view bytes);
  void on_deadline();
  void flush_and_rearm();
  void publish(core::MonoTime now);

  MainLoop& loop_;
  wire::ClusterNode* node_ = nullptr;
  core::ClusterSignals& signals_;
  core::OriginTable& origins_;
  std::function<void()> receive_hook_;
  std::unique_ptr<UdpTransport> transport_;
  Timer* timer_ = nullptr;    // freed by its close callback
  std::mutex wakeup_mutex_;   // guards wakeup_ against a stop while another thread sends
  Wakeup* wakeup_ = nullptr;  // freed by its close callback
  std::string bind_address_;
  core::MonoTime last_publish_;
  mutable std::mutex snapshot_mutex_;
  ClusterSnapshot snapshot_;
};

}  // namespace drl::io
