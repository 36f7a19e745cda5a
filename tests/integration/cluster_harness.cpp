#include "cluster_harness.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <random>
#include <sstream>
#include <stdexcept>

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

sockaddr_in ipv4_address(const std::string& host, std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    throw std::runtime_error("not an IPv4 address: " + host);
  }
  return address;
}

sockaddr_in parse_host_port(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("not host:port: " + text);
  return ipv4_address(text.substr(0, colon),
                      static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
}

std::string format(const sockaddr_in& address) {
  char host[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(address.sin_port));
}

std::int64_t to_int(const std::string& text) {
  return text.empty() ? 0 : std::stoll(text);
}

}  // namespace

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<std::uint16_t> pick_udp_ports(std::size_t count) {
  // Below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768 and up by
  // default): a socket bound to port 0 anywhere on the machine (a client, another test's
  // relay) cannot then take a picked port before drld binds it. Concurrent tests pick at random
  // in the same range; the rare collision left is what Cluster::start's retry is for.
  constexpr std::uint16_t kFirstPort = 15000;
  constexpr std::uint16_t kLastPort = 32767;
  constexpr std::size_t kTriesPerPort = 200;
  std::random_device entropy;
  std::mt19937 random(entropy());
  std::uniform_int_distribution<unsigned> pick(kFirstPort, kLastPort);
  std::vector<int> fds;
  std::vector<std::uint16_t> ports;
  const auto close_all = [&fds] {
    for (int open : fds) ::close(open);
  };
  for (std::size_t i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      close_all();
      throw std::runtime_error(errno_text("socket"));
    }
    fds.push_back(fd);
    bool bound = false;
    for (std::size_t attempt = 0; attempt < kTriesPerPort && !bound; ++attempt) {
      const auto port = static_cast<std::uint16_t>(pick(random));
      sockaddr_in address = ipv4_address("127.0.0.1", port);
      bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
      if (bound) ports.push_back(port);  // held until every port is picked: all distinct
    }
    if (!bound) {
      close_all();
      throw std::runtime_error("no free UDP port on 127.0.0.1 in " + std::to_string(kFirstPort) +
                               ".." + std::to_string(kLastPort));
    }
  }
  close_all();
  return ports;
}

std::uint64_t NodeStatus::uint(const std::string& name) const {
  const auto it = fields.find(name);
  if (it == fields.end()) throw std::runtime_error("status has no field '" + name + "'");
  return std::stoull(it->second);
}

const PeerRow* NodeStatus::peer(const std::string& node_id) const {
  for (const PeerRow& row : peers) {
    if (row.node == node_id) return &row;
  }
  return nullptr;
}

const PeerRow* NodeStatus::peer_at(const std::string& address) const {
  for (const PeerRow& row : peers) {
    if (row.address == address) return &row;
  }
  return nullptr;
}

std::uint64_t CounterSlots::total() const {
  std::uint64_t sum = 0;
  for (const auto& [origin, windows] : origins) {
    for (const auto& [window, count] : windows) sum += count;
  }
  return sum;
}

std::uint64_t CounterSlots::total_of(const std::string& node_id) const {
  std::uint64_t sum = 0;
  for (const auto& [origin, windows] : origins) {
    if (origin.first != node_id) continue;
    for (const auto& [window, count] : windows) sum += count;
  }
  return sum;
}

std::size_t CounterSlots::incarnations_of(const std::string& node_id) const {
  std::size_t found = 0;
  for (const auto& [origin, windows] : origins) found += origin.first == node_id ? 1 : 0;
  return found;
}

std::string CounterSlots::describe() const {
  std::ostringstream out;
  out << "{";
  for (const auto& [origin, windows] : origins) {
    out << " " << origin.first << "/" << origin.second << ":";
    for (const auto& [window, count] : windows) out << " w" << window << "=" << count;
    out << ";";
  }
  out << " } total " << total();
  return out.str();
}

Cluster::Cluster(const TempDir& dir, ClusterSpec spec)
    : dir_(dir), spec_(std::move(spec)), nodes_(spec_.nodes), starts_(spec_.nodes, 0) {
  if (spec_.hosts.empty()) spec_.hosts.assign(spec_.nodes, "127.0.0.1");
  ports_picked_ = spec_.ports.empty();
  if (ports_picked_) spec_.ports = pick_udp_ports(spec_.nodes);
  spec_.node_cluster_settings.resize(spec_.nodes);
  spec_.peer_lists.resize(spec_.nodes);
  spec_.command_prefixes.resize(spec_.nodes);
}

Cluster::~Cluster() = default;

std::string Cluster::address(std::size_t i) const {
  return spec_.hosts.at(i) + ":" + std::to_string(spec_.ports.at(i));
}

std::string Cluster::socket_path(std::size_t i) const {
  return dir_.file(id(i) + ".sock");
}

std::string Cluster::config_text(std::size_t i) const {
  std::ostringstream peers;
  const std::vector<std::string>& own = spec_.peer_lists.at(i);
  if (own.empty()) {
    for (std::size_t j = 0; j < spec_.nodes; ++j)
      peers << (j ? ", " : "") << '"' << address(j) << '"';
  } else {
    for (std::size_t j = 0; j < own.size(); ++j) peers << (j ? ", " : "") << '"' << own[j] << '"';
  }
  std::string node_settings = spec_.node_settings;
  for (std::size_t at = node_settings.find("@ID@"); at != std::string::npos;
       at = node_settings.find("@ID@", at)) {
    node_settings.replace(at, 4, id(i));
  }
  std::ostringstream text;
  text << "[node]\n"
       << "id = \"" << id(i) << "\"\n"
       << "socket = \"@SOCKET@\"\n"
       << "watch_config = false\n"
       << node_settings << "\n\n"
       << "[cluster]\n"
       << "bind = \"" << address(i) << "\"\n"
       << "peers = [" << peers.str() << "]\n"
       << spec_.cluster_settings << "\n"
       << spec_.node_cluster_settings.at(i) << "\n\n"
       << spec_.policies << "\n";
  return text.str();
}

void Cluster::set_node_cluster_settings(std::size_t i, std::string lines) {
  spec_.node_cluster_settings.at(i) = std::move(lines);
}

void Cluster::set_peer_list(std::size_t i, std::vector<std::string> peers) {
  spec_.peer_lists.at(i) = std::move(peers);
}

void Cluster::spawn(std::size_t i) {
  if (nodes_[i]) {
    nodes_[i]->kill_hard();
    old_logs_.push_back("--- " + id(i) + " (start " + std::to_string(starts_[i]) + ") ---\n" +
                        nodes_[i]->log());
    nodes_[i].reset();
  }
  ++starts_[i];
  DaemonOptions options;
  options.config_text = config_text(i);
  // A restart keeps the socket, and gets its own config and log file.
  options.name = starts_[i] == 1 ? id(i) : id(i) + "." + std::to_string(starts_[i]);
  options.socket_path = socket_path(i);
  options.command_prefix = spec_.command_prefixes.at(i);
  nodes_[i] = std::make_unique<DaemonProcess>(dir_, std::move(options));
}

void Cluster::start(std::size_t count) {
  count = std::min(count, spec_.nodes);
  for (int attempt = 1;; ++attempt) {
    for (std::size_t i = 0; i < count; ++i) spawn(i);
    bool bind_failed = false;
    for (std::size_t i = 0; i < count; ++i) {
      if (nodes_[i]->wait_ready(15s)) continue;
      if (nodes_[i]->log().find("cannot bind UDP") != std::string::npos) {
        bind_failed = true;
        continue;
      }
      throw std::runtime_error("node " + id(i) + " did not start; logs:\n" + logs());
    }
    if (!bind_failed) return;
    if (!ports_picked_ || attempt == 3) {
      throw std::runtime_error("a node could not bind its UDP port; logs:\n" + logs());
    }
    for (std::size_t i = 0; i < count; ++i) nodes_[i]->kill_hard();
    spec_.ports = pick_udp_ports(spec_.nodes);
  }
}

void Cluster::start_node(std::size_t i) {
  spawn(i);
  if (!nodes_[i]->wait_ready(15s)) {
    throw std::runtime_error("node " + id(i) + " did not start; logs:\n" + logs());
  }
}

void Cluster::kill(std::size_t i) {
  node(i).kill_hard();
}

DaemonProcess& Cluster::node(std::size_t i) {
  if (!nodes_.at(i)) throw std::runtime_error("node " + id(i) + " was never started");
  return *nodes_[i];
}

bool Cluster::running(std::size_t i) {
  return nodes_.at(i) && nodes_[i]->running();
}

std::string Cluster::logs() const {
  std::string out;
  for (const std::string& log : old_logs_) out += log;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i]) continue;
    out += "--- " + id(i) + " (start " + std::to_string(starts_[i]) + ") ---\n" + nodes_[i]->log();
  }
  return out;
}

bool Cluster::wait_until_connected(Millis timeout, std::vector<std::size_t> among) {
  if (among.empty()) {
    for (std::size_t i = 0; i < spec_.nodes; ++i) among.push_back(i);
  }
  return wait_until(
      [this, &among] {
        std::vector<std::size_t> up;
        for (std::size_t i : among) {
          if (running(i)) up.push_back(i);
        }
        std::map<std::size_t, NodeStatus> statuses;
        try {
          for (std::size_t i : up) statuses[i] = node_status(*nodes_[i]);
        } catch (const std::exception&) {
          return false;
        }
        for (std::size_t i : up) {
          for (std::size_t j : up) {
            if (i == j) continue;
            const PeerRow* row = statuses[i].peer(id(j));
            if (row == nullptr || row->state != "alive" ||
                row->incarnation != statuses[j].uint("incarnation")) {
              return false;
            }
          }
        }
        return true;
      },
      timeout, 10ms);
}

NodeStatus node_status(const DaemonProcess& node) {
  drl::Client client = node.connect();
  const auto report = client.status();
  if (!report.ok()) throw std::runtime_error("status: " + report.error().message);
  NodeStatus out;
  for (const auto& [name, value] : report->fields) out.fields[name] = value;
  if (const auto it = report->tables.find("peers"); it != report->tables.end()) {
    for (const auto& record : it->second) {
      PeerRow row;
      for (const auto& [column, value] : record) {
        if (column == "node") row.node = value;
        if (column == "address") row.address = value;
        if (column == "state") row.state = value;
        if (column == "incarnation") row.incarnation = std::stoull(value);
        if (column == "last_heard_ms") row.last_heard_ms = to_int(value);
        if (column == "rtt_us") row.rtt_us = to_int(value);
        if (column == "clock_offset_ms") row.clock_offset_ms = to_int(value);
        if (column == "syncing") row.syncing = value == "true";
        if (column == "via") row.via = value;
        if (column == "datagrams_sent") row.datagrams_sent = std::stoull(value);
        if (column == "bytes_sent") row.bytes_sent = std::stoull(value);
        if (column == "datagrams_received") row.datagrams_received = std::stoull(value);
        if (column == "bytes_received") row.bytes_received = std::stoull(value);
      }
      out.peers.push_back(std::move(row));
    }
  }
  return out;
}

CounterSlots inspect_slots(const DaemonProcess& node, std::string_view policy,
                           std::string_view key) {
  drl::Client client = node.connect();
  const auto counters = client.inspect(drl::CheckRequest{policy, key, 0});
  if (!counters.ok()) throw std::runtime_error("inspect: " + counters.error().message);
  if (counters->empty()) throw std::runtime_error("inspect: no counter");
  CounterSlots out;
  for (const drl::OriginSlots& slot : counters->front().origins) {
    auto& windows = out.origins[{slot.node_id, slot.incarnation}];
    if (slot.current != 0) windows[slot.window_id] += slot.current;
    if (slot.previous != 0) windows[slot.window_id - 1] += slot.previous;
    if (windows.empty()) out.origins.erase({slot.node_id, slot.incarnation});
  }
  return out;
}

std::optional<CounterSlots> wait_for_agreement(const std::vector<const DaemonProcess*>& nodes,
                                               std::string_view policy, std::string_view key,
                                               Millis timeout, std::string* last) {
  std::optional<CounterSlots> agreed;
  wait_until(
      [&] {
        std::vector<CounterSlots> seen;
        std::ostringstream text;
        try {
          for (const DaemonProcess* node : nodes) {
            seen.push_back(inspect_slots(*node, policy, key));
            text << "  " << node->socket_path() << ": " << seen.back().describe() << "\n";
          }
        } catch (const std::exception& error) {
          text << "  (" << error.what() << ")\n";
          if (last != nullptr) *last = text.str();
          return false;
        }
        if (last != nullptr) *last = text.str();
        for (const CounterSlots& slots : seen) {
          if (!(slots == seen.front())) return false;
        }
        agreed = seen.front();
        return true;
      },
      timeout, 2ms);
  return agreed;
}

bool wait_for_totals(const std::vector<const DaemonProcess*>& nodes, std::string_view policy,
                     std::string_view key, const std::map<std::uint64_t, std::uint64_t>& expected,
                     Millis timeout, std::string* last) {
  const auto count_in = [&](std::uint64_t window) {
    const auto it = expected.find(window);
    return it == expected.end() ? 0 : it->second;
  };
  return wait_until(
      [&] {
        std::ostringstream text;
        bool all = true;
        try {
          for (const DaemonProcess* node : nodes) {
            drl::Client client = node->connect();
            const auto counters = client.inspect(drl::CheckRequest{policy, key, 0});
            if (!counters.ok() || counters->empty()) {
              text << "  " << node->socket_path() << ": no counter\n";
              all = false;
              continue;
            }
            const drl::CounterState& state = counters->front();
            text << "  " << node->socket_path() << ": window " << state.window_id << " "
                 << state.previous << "/" << state.current << "\n";
            all = all && state.current == count_in(state.window_id) &&
                  state.previous == count_in(state.window_id - 1);
          }
        } catch (const std::exception& error) {
          text << "  (" << error.what() << ")\n";
          all = false;
        }
        if (last != nullptr) *last = text.str();
        return all;
      },
      timeout, 2ms);
}

std::uint64_t decision_window(const drl::Decision& decision, std::int64_t sent_wall_ms,
                              std::int64_t received_wall_ms) {
  const auto w = static_cast<std::int64_t>(decision.window_ms);
  const auto reset = static_cast<std::int64_t>(decision.reset_after_ms);
  // The reset is the end of the daemon's current window (fixed, or sliding with only a
  // previous count) or of the next one (sliding): either way, reset = W - elapsed (mod W).
  const std::int64_t elapsed = (((w - reset) % w) + w) % w;
  const double middle =
      (static_cast<double>(sent_wall_ms) + static_cast<double>(received_wall_ms)) / 2;
  return static_cast<std::uint64_t>(
      std::llround((middle - static_cast<double>(elapsed)) / static_cast<double>(w)));
}

UdpSocket::UdpSocket(const std::string& host, std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in address = ipv4_address(host, port);
  socklen_t length = sizeof address;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string message = errno_text("bind UDP " + host);
    ::close(fd_);
    throw std::runtime_error(message);
  }
  port_ = ntohs(address.sin_port);
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

void UdpSocket::send_to(const std::string& address, std::string_view bytes) const {
  const sockaddr_in to = parse_host_port(address);
  if (::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<const sockaddr*>(&to),
               sizeof to) < 0) {
    throw std::runtime_error(errno_text("sendto " + address));
  }
}

std::optional<std::pair<std::string, std::string>> UdpSocket::receive(Millis timeout) const {
  pollfd fd{fd_, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  char buffer[65536];
  sockaddr_in from{};
  socklen_t length = sizeof from;
  const ssize_t n =
      ::recvfrom(fd_, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&from), &length);
  if (n < 0) return std::nullopt;
  return std::make_pair(format(from), std::string(buffer, static_cast<std::size_t>(n)));
}

UdpRelay::UdpRelay(std::string target) : target_(std::move(target)) {
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      const auto datagram = socket_.receive(20ms);
      if (!datagram) continue;
      {
        std::lock_guard<std::mutex> guard(mutex_);
        recorded_.push_back(datagram->second);
      }
      try {
        socket_.send_to(target_, datagram->second);
        forwarded_.fetch_add(1);
      } catch (const std::exception&) {
        // The target is gone (killed): like a lost datagram.
      }
    }
  });
}

UdpRelay::~UdpRelay() {
  stop_.store(true);
  thread_.join();
}

std::vector<std::string> UdpRelay::recorded() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return recorded_;
}

double model_excess(const OvershootSettings& settings, double delay_ms) {
  const double rate_per_ms = settings.offered_multiple * static_cast<double>(settings.limit) /
                             static_cast<double>(settings.window_ms);
  const auto n = static_cast<double>(settings.nodes);
  return rate_per_ms * delay_ms * (n - 1) / n;
}

std::uint64_t overshoot_bound(const OvershootSettings& settings, double rtt_us, double slack_ms) {
  // Through owners: to the owners at the next round, from them within a quarter of one, two
  // one-way trips (a round trip).
  const double gossip_ms = static_cast<double>(settings.gossip_interval_ms);
  const double delay_ms = settings.through_owners
                              ? gossip_ms * 1.25 + 2 + std::max(0.0, rtt_us) / 1000.0 + slack_ms
                              : gossip_ms + 1 + std::max(0.0, rtt_us) / 2000.0 + slack_ms;
  return settings.limit + static_cast<std::uint64_t>(std::ceil(model_excess(settings, delay_ms)));
}

std::string window_table(const OvershootRun& run, std::uint64_t limit) {
  std::ostringstream out;
  out << "window        offered  admitted  excess  admitted per node\n";
  for (const WindowCount& window : run.full_windows) {
    out << window.window_id << "  " << window.offered << "      " << window.admitted << "       "
        << static_cast<std::int64_t>(window.admitted) - static_cast<std::int64_t>(limit)
        << "      ";
    for (std::uint64_t n : window.admitted_per_node) out << " " << n;
    out << "\n";
  }
  return out.str();
}

namespace {

// The mean round trip to peers over every node's status; -1 before any was measured.
double mean_rtt_us(Cluster& cluster) {
  double rtt_sum = 0;
  std::size_t rtt_count = 0;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    for (const PeerRow& row : node_status(cluster.node(i)).peers) {
      if (row.rtt_us >= 0) {
        rtt_sum += static_cast<double>(row.rtt_us);
        ++rtt_count;
      }
    }
  }
  return rtt_count > 0 ? rtt_sum / static_cast<double>(rtt_count) : -1;
}

// What the cluster's nodes have sent, summed, and when it was read.
struct ClusterTraffic {
  SteadyClock::time_point at;
  std::uint64_t datagrams = 0;
  std::uint64_t bytes = 0;
};

ClusterTraffic cluster_traffic(Cluster& cluster) {
  ClusterTraffic traffic;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const NodeStatus status = node_status(cluster.node(i));
    traffic.datagrams += status.uint("datagrams_sent");
    traffic.bytes += status.uint("datagram_bytes_sent");
  }
  traffic.at = SteadyClock::now();
  return traffic;
}

}  // namespace

OvershootRun measure_overshoot(const TempDir& dir, const OvershootSettings& settings) {
  ClusterSpec spec;
  spec.nodes = settings.nodes;
  spec.cluster_settings = "gossip_interval = \"" + std::to_string(settings.gossip_interval_ms) +
                          "ms\"\n" + settings.cluster_settings +
                          (settings.through_owners ? "dissemination = \"owners\"\n" : "");
  spec.policies = "[[policy]]\nname = \"p\"\nlimit = " + std::to_string(settings.limit) +
                  "\nwindow = \"" + std::to_string(settings.window_ms) + "ms\"\nalgorithm = \"" +
                  settings.algorithm + "\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  if (!cluster.wait_until_connected(15s)) {
    throw std::runtime_error("the cluster did not connect; logs:\n" + cluster.logs());
  }
  std::vector<drl::Client> clients;
  for (std::size_t i = 0; i < cluster.size(); ++i) clients.push_back(cluster.node(i).connect());

  OvershootRun run;
  const double checks_per_window = settings.offered_multiple * static_cast<double>(settings.limit);
  run.offered_rate_per_s = checks_per_window * 1000.0 / static_cast<double>(settings.window_ms);
  const auto period = std::chrono::nanoseconds(
      static_cast<std::int64_t>(static_cast<double>(settings.window_ms) * 1e6 / checks_per_window));
  const auto w = static_cast<std::int64_t>(settings.window_ms);

  // Read before the windows are laid out: at 40 nodes these reads take a while.
  const ClusterTraffic traffic_before = cluster_traffic(cluster);
  const std::int64_t started_wall = wall_ms();
  const std::int64_t first_full = started_wall / w + 1;
  const std::int64_t last_full = first_full + static_cast<std::int64_t>(settings.windows) - 1;
  // A little past the last full window, so that it is complete whatever the call latency.
  const std::int64_t end_wall = (last_full + 1) * w + 20;

  std::map<std::uint64_t, WindowCount> windows;
  std::deque<std::int64_t> admitted_in_last_window;  // when each answer arrived
  const std::size_t crashing = cluster.size() - 1;
  const std::int64_t kill_wall =
      settings.kill_at_windows < 0
          ? INT64_MAX
          : first_full * w + std::llround(settings.kill_at_windows * static_cast<double>(w));
  std::int64_t restart_wall = INT64_MAX;
  bool killed = false;
  bool restarted = false;
  std::mt19937_64 random(settings.seed);
  std::exponential_distribution<double> gap(1.0 / static_cast<double>(period.count()));
  auto next = SteadyClock::now();
  for (std::uint64_t k = 0;; ++k) {
    std::this_thread::sleep_until(next);
    next += settings.poisson ? std::chrono::nanoseconds(static_cast<std::int64_t>(gap(random)))
                             : period;
    const std::int64_t sent = wall_ms();
    if (sent >= end_wall) break;
    if (!killed && sent >= kill_wall) {
      cluster.kill(crashing);
      killed = true;
      restart_wall = sent + static_cast<std::int64_t>(settings.restart_after_ms);
    }
    if (killed && !restarted && sent >= restart_wall) {
      // Blocks until it is ready: the checks due meanwhile go out in a rush afterwards, as
      // clients' retries do.
      cluster.start_node(crashing);
      clients[crashing] = cluster.node(crashing).connect();
      restarted = true;
    }
    std::size_t node = k % cluster.size();
    if (killed && !restarted && node == crashing) node = (node + 1) % cluster.size();
    const auto decision = clients[node].check(drl::CheckRequest{"p", "k"});
    const std::int64_t received = wall_ms();
    if (!decision.ok()) {
      ++run.checks_failed;
      continue;
    }
    const std::uint64_t window = decision_window(decision.value(), sent, received);
    WindowCount& count = windows[window];
    count.window_id = window;
    count.admitted_per_node.resize(cluster.size());
    ++count.offered;
    if (decision->allowed) {
      ++count.admitted;
      ++count.admitted_per_node[node];
      ++run.admitted_total;
      admitted_in_last_window.push_back(received);
      while (admitted_in_last_window.front() <= received - w) admitted_in_last_window.pop_front();
      run.most_in_any_window =
          std::max<std::uint64_t>(run.most_in_any_window, admitted_in_last_window.size());
    }
  }
  const auto stopped = SteadyClock::now();
  // Read once the nodes converged (reading 40 statuses first would delay the convergence
  // measurement): the rates then include the convergence's few milliseconds of quiet.
  const auto note_traffic = [&] {
    if (killed) return;
    const ClusterTraffic traffic_after = cluster_traffic(cluster);
    const double node_seconds =
        static_cast<double>(cluster.size()) *
        std::chrono::duration<double>(traffic_after.at - traffic_before.at).count();
    run.datagrams_sent_per_node_per_s =
        static_cast<double>(traffic_after.datagrams - traffic_before.datagrams) / node_seconds;
    run.bytes_sent_per_node_per_s =
        static_cast<double>(traffic_after.bytes - traffic_before.bytes) / node_seconds;
  };
  if (restarted) {
    const std::string logs = cluster.logs();
    for (const char* marker :
         {"counts received from a peer", "no peer answered", "peers answered, but none"}) {
      const std::size_t at = logs.find(marker);
      if (at != std::string::npos) run.restart_log = logs.substr(at, logs.find('\n', at) - at);
    }
  }

  for (const auto& [id, count] : windows) {
    if (static_cast<std::int64_t>(id) >= first_full && static_cast<std::int64_t>(id) <= last_full) {
      run.full_windows.push_back(count);
    }
  }

  std::vector<const DaemonProcess*> nodes;
  for (std::size_t i = 0; i < cluster.size(); ++i) nodes.push_back(&cluster.node(i));
  std::string last;
  if (settings.through_owners) {
    std::map<std::uint64_t, std::uint64_t> admitted;
    for (const auto& [id, count] : windows) admitted[id] = count.admitted;
    run.converged = wait_for_totals(nodes, "p", "k", admitted, 5s, &last);
    run.convergence_ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - stopped).count();
    run.counts_match = run.converged;
    if (!run.converged)
      run.failure = "the nodes did not read the admitted counts within 5 s:\n" + last;
    note_traffic();
    run.rtt_us = mean_rtt_us(cluster);
    return run;
  }
  const std::optional<CounterSlots> agreed = wait_for_agreement(nodes, "p", "k", 5s, &last);
  run.convergence_ms = std::chrono::duration_cast<Millis>(SteadyClock::now() - stopped).count();
  run.converged = agreed.has_value();
  if (!agreed) {
    run.failure = "the nodes did not agree within 5 s:\n" + last;
  } else {
    // Every window the nodes still hold has exactly the admissions the test saw in it.
    std::map<std::uint64_t, std::uint64_t> held;
    for (const auto& [origin, counts] : agreed->origins) {
      for (const auto& [window, count] : counts) held[window] += count;
    }
    run.counts_match = !held.empty();
    for (const auto& [window, count] : held) {
      const auto it = windows.find(window);
      const std::uint64_t seen = it == windows.end() ? 0 : it->second.admitted;
      if (seen != count) {
        run.counts_match = false;
        run.failure += "window " + std::to_string(window) + ": nodes hold " +
                       std::to_string(count) + ", the test saw " + std::to_string(seen) +
                       " admitted\n";
      }
    }
    if (!run.counts_match) run.failure += "held: " + agreed->describe();
  }

  note_traffic();
  run.rtt_us = mean_rtt_us(cluster);
  return run;
}

}  // namespace drl::integration
