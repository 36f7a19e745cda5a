// Harness for the cluster tests: N real drld processes that replicate over UDP, plus what the
// tests need around them (free ports, status and inspect readers, raw UDP sockets, a recording
// UDP relay, the overshoot measurement shared by the test and the measurement tool).
//
// Nodes are named n1..nN. Every node's config lists every node's address as a peer (a node
// ignores its own), binds HOST:PORT, and uses the socket of its DaemonProcess. Processes are
// owned by the Cluster and killed by its destructor, also when a check fails.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_process.hpp"
#include "drl/client.hpp"

namespace drl::integration {

// `count` distinct UDP ports on 127.0.0.1 that were free a moment ago: picked at random below
// the kernel's ephemeral range, bound together, then released. Another process may take one
// before drld binds it; Cluster::start retries with new ports when a node cannot bind.
std::vector<std::uint16_t> pick_udp_ports(std::size_t count);

// "1,5,20" as {"1", "5", "20"} (empty items left out): the list options of the measurement
// tools.
std::vector<std::string> split_list(const std::string& text);

struct ClusterSpec {
  std::size_t nodes = 3;
  // Per node; empty: every node on 127.0.0.1.
  std::vector<std::string> hosts;
  // Per node; empty: picked with pick_udp_ports (hosts must then be 127.0.0.1).
  std::vector<std::uint16_t> ports;
  // Lines added to every node's [cluster] table ("gossip_interval = \"5ms\"" ...).
  std::string cluster_settings;
  // Per node, lines added to that node's [cluster] table (key_file, advertise ...); may be
  // shorter than nodes.
  std::vector<std::string> node_cluster_settings;
  // Per node, replaces its peer list ("host:port" each); an empty list keeps the default.
  std::vector<std::vector<std::string>> peer_lists;
  // Lines added to every node's [node] table, with every "@ID@" replaced by the node's id
  // ("state_dir = \"/tmp/x/@ID@\"").
  std::string node_settings;
  // The [[policy]] tables, shared by every node.
  std::string policies;
  // Per node, runs drld through this command (see DaemonOptions::command_prefix).
  std::vector<std::vector<std::string>> command_prefixes;
};

// One peer row of a node's status.
struct PeerRow {
  std::string node;  // "?" until heard
  std::string address;
  std::string state;  // alive, suspect, down, unknown
  std::uint64_t incarnation = 0;
  std::int64_t last_heard_ms = -1;
  std::int64_t rtt_us = -1;
  std::int64_t clock_offset_ms = 0;
  bool syncing = false;
  std::string via;  // the relay this node reaches the peer through; "-": straight
  // Cluster traffic with it since it became a member.
  std::uint64_t datagrams_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t bytes_received = 0;
};

// A node's status answer: scalar fields as text, and the peers table.
struct NodeStatus {
  std::map<std::string, std::string> fields;
  std::vector<PeerRow> peers;

  std::uint64_t uint(const std::string& name) const;  // throws if absent
  const PeerRow* peer(const std::string& node_id) const;
  const PeerRow* peer_at(const std::string& address) const;
};

// One counter as a node holds it, in a form that does not depend on when it was read: for
// every origin (node id, incarnation), its nonzero count per window id.
struct CounterSlots {
  std::map<std::pair<std::string, std::uint64_t>, std::map<std::uint64_t, std::uint64_t>> origins;

  std::uint64_t total() const;                               // over every origin and window
  std::uint64_t total_of(const std::string& node_id) const;  // every incarnation of a node
  std::size_t incarnations_of(const std::string& node_id) const;
  bool operator==(const CounterSlots&) const = default;
  std::string describe() const;
};

class Cluster {
 public:
  Cluster(const TempDir& dir, ClusterSpec spec);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // Starts every node and waits until each answers on its socket. With picked ports, retries
  // up to 3 times with new ports when a node could not bind its UDP port (peer lists set with
  // set_peer_list are not rewritten: such a cluster then fails to connect, with a clear
  // message). Throws with the logs on failure. `count`: only the first `count` nodes (the
  // others can join later with start_node).
  void start(std::size_t count = SIZE_MAX);
  // Starts (or restarts, after kill) node i with its current config; waits until it answers.
  void start_node(std::size_t i);
  // SIGKILL, as a crash.
  void kill(std::size_t i);
  // Replaces node i's per-node [cluster] lines (takes effect at its next start).
  void set_node_cluster_settings(std::size_t i, std::string lines);
  // Replaces node i's peer list (takes effect at its next start).
  void set_peer_list(std::size_t i, std::vector<std::string> peers);

  std::size_t size() const { return spec_.nodes; }
  DaemonProcess& node(std::size_t i);
  bool running(std::size_t i);
  std::string id(std::size_t i) const { return "n" + std::to_string(i + 1); }
  std::string address(std::size_t i) const;
  std::string config_text(std::size_t i) const;
  std::string socket_path(std::size_t i) const;
  // Every node's log, labelled, for failure messages.
  std::string logs() const;

  // Until every running node sees every other running node alive, with the incarnation the
  // other reports for itself. False at the deadline. `among`: only these nodes (default all).
  bool wait_until_connected(Millis timeout, std::vector<std::size_t> among = {});

 private:
  void spawn(std::size_t i);

  const TempDir& dir_;
  ClusterSpec spec_;
  std::vector<std::unique_ptr<DaemonProcess>> nodes_;
  std::vector<std::size_t> starts_;  // per node, how many times it was started
  bool ports_picked_ = false;
  std::vector<std::string> old_logs_;
};

// The node's status over a fresh connection; throws on failure.
NodeStatus node_status(const DaemonProcess& node);
// The counter of (policy, key) as the node holds it (the first counter the pair resolves to);
// throws on failure.
CounterSlots inspect_slots(const DaemonProcess& node, std::string_view policy,
                           std::string_view key);
// Polls inspect on every node until all hold identical slots; the common value, or nothing at
// the deadline. `last` gets what each node held at the last poll, for the failure message.
std::optional<CounterSlots> wait_for_agreement(const std::vector<const DaemonProcess*>& nodes,
                                               std::string_view policy, std::string_view key,
                                               Millis timeout, std::string* last = nullptr);
// Polls inspect on every node until each reads, in the windows it holds now, the counts of
// `expected` (window id -> count); true if they all did before the deadline.
bool wait_for_totals(const std::vector<const DaemonProcess*>& nodes, std::string_view policy,
                     std::string_view key, const std::map<std::uint64_t, std::uint64_t>& expected,
                     Millis timeout, std::string* last = nullptr);

// The window id a decision was made in, from the decision's reset_after_ms (exact for the
// fixed and sliding algorithms, whose reset is the end of the window, or of the next one,
// counted from the daemon's clock) and the test's clock around the call.
std::uint64_t decision_window(const drl::Decision& decision, std::int64_t sent_wall_ms,
                              std::int64_t received_wall_ms);

// A UDP socket on 127.0.0.1 (or `host`), for sending forged datagrams and receiving any.
class UdpSocket {
 public:
  explicit UdpSocket(const std::string& host = "127.0.0.1", std::uint16_t port = 0);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  std::uint16_t port() const { return port_; }
  void send_to(const std::string& address, std::string_view bytes) const;
  // One datagram and its source "host:port", or nothing after `timeout`.
  std::optional<std::pair<std::string, std::string>> receive(Millis timeout) const;

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// A one-way UDP relay: every datagram that arrives on its port is recorded and forwarded to
// `target`. Stand it at a node's advertised address to see what its peers send it.
class UdpRelay {
 public:
  explicit UdpRelay(std::string target);
  ~UdpRelay();
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  std::uint16_t port() const { return socket_.port(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port()); }
  std::vector<std::string> recorded() const;
  std::uint64_t forwarded() const { return forwarded_.load(); }

 private:
  std::string target_;
  UdpSocket socket_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> forwarded_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> recorded_;
  std::thread thread_;
};

// Overshoot of one key checked round-robin across N nodes at an offered multiple of its limit
// (docs/replication.md has the model these numbers are compared with).
struct OvershootSettings {
  std::size_t nodes = 3;
  std::uint64_t gossip_interval_ms = 5;
  double offered_multiple = 3.0;  // offered checks per window / limit
  std::uint64_t limit = 100;
  std::uint64_t window_ms = 1000;
  std::string algorithm = "fixed";
  std::size_t windows = 5;  // full windows measured (plus the partial ones around them)
  // Even pacing: one check every window / (offered * limit), so any interval of length D holds
  // at most ceil(r * D) checks. Poisson: exponential gaps of the same mean (seeded), so that
  // the moment a window fills falls at a random phase of the nodes' gossip rounds, as with
  // real traffic.
  bool poisson = false;
  std::uint64_t seed = 1;
  // A crash: the last node is killed (SIGKILL) this many windows into the measured ones (1.7:
  // 70% into the second full window) and started again restart_after_ms later, while the
  // checks go on; meanwhile its share goes to the next node. Negative: no crash.
  double kill_at_windows = -1;
  std::uint64_t restart_after_ms = 320;
  std::string cluster_settings;  // more [cluster] lines ("warmup_max = \"0s\"\n")
  // Counts through key owners ([cluster] dissemination = "owners"): convergence is then every
  // node reading the admissions the test saw (a node that owns no key holds its own slot and
  // the owners' total, not every origin's), and the model's delay has two hops.
  bool through_owners = false;
};

struct WindowCount {
  std::uint64_t window_id = 0;
  std::uint64_t offered = 0;
  std::uint64_t admitted = 0;
  std::vector<std::uint64_t> admitted_per_node;
};

struct OvershootRun {
  std::vector<WindowCount> full_windows;  // windows wholly inside the run
  std::uint64_t admitted_total = 0;       // every admission the test saw, partial windows too
  std::uint64_t checks_failed = 0;        // answers that were errors
  double offered_rate_per_s = 0;          // as intended
  double rtt_us = -1;                     // mean peer round trip from the nodes' status
  std::int64_t convergence_ms = -1;       // after the last check, until all nodes agreed
  bool converged = false;
  bool counts_match = false;  // agreed counts == the admissions the test saw
  std::string failure;        // why not converged / not matching
  // The most admissions in any interval one window long (by when each answer arrived): what a
  // sliding window promises, whatever the alignment.
  std::uint64_t most_in_any_window = 0;
  std::string restart_log;  // with a crash: the restarted node's line on how its hold ended
  // Cluster traffic a node sent while the checks ran and the nodes converged, the mean over the
  // nodes (from each node's status datagrams_sent and datagram_bytes_sent); -1 with a crash
  // (its counters restart).
  double datagrams_sent_per_node_per_s = -1;
  double bytes_sent_per_node_per_s = -1;
};

// Starts a cluster in `dir` with the settings, waits until it is connected, checks the key
// "k" of policy "p" round-robin at the offered rate with a monotonic pacing clock, then waits
// for convergence. Throws if the cluster cannot start.
OvershootRun measure_overshoot(const TempDir& dir, const OvershootSettings& settings);

// The model's excess per window (docs/replication.md): r * D * (N - 1) / N with D the delay
// before other nodes see an admission. `delay_ms` is D.
double model_excess(const OvershootSettings& settings, double delay_ms);

// The most a window may admit by the model: the limit plus the excess at the longest delay,
// D = gossip interval + 1 ms of timer rounding + rtt / 2 + `slack_ms` for scheduling.
std::uint64_t overshoot_bound(const OvershootSettings& settings, double rtt_us, double slack_ms);

// The per-window numbers of a run, as a table for test output.
std::string window_table(const OvershootRun& run, std::uint64_t limit);

}  // namespace drl::integration
