// Counts through key owners ([cluster] dissemination = "owners") between real drld processes on
// loopback: the overshoot within the model's bound with two hops, and every node then reading
// exactly the admissions the test saw (docs/replication.md, "Key owners").
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "cluster_harness.hpp"
#include "overshoot_checks.hpp"

namespace drl::integration {
namespace {

// As cluster_replication_test.cpp: how late a process may be scheduled on a shared 2-core VM.
constexpr double kSchedulingSlackMs = 50;

TEST_CASE(
    "owners: one key checked round-robin on 8 nodes at 3x its limit, counts through its two "
    "owners, admits at most the model's bound per window, and every node then reads the "
    "admissions") {
  TempDir dir;
  OvershootSettings settings;
  settings.nodes = 8;
  settings.windows = 4;
  settings.through_owners = true;
  const OvershootRun run = measure_overshoot(dir, settings);

  const std::uint64_t bound = overshoot_bound(settings, run.rtt_us, kSchedulingSlackMs);
  MESSAGE("through owners: limit "
          << settings.limit << " per " << settings.window_ms << " ms, offered "
          << run.offered_rate_per_s << "/s on " << settings.nodes << " nodes, rtt " << run.rtt_us
          << " us; bound " << bound << "\n"
          << window_table(run, settings.limit) << "converged after " << run.convergence_ms
          << " ms");
  check_windows_within_bound(run, settings, bound);
  CHECK(run.convergence_ms <= 1000);
}

TEST_CASE("owners: drl status shows the mode, this node's share of keys and the totals sent") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 4;
  spec.cluster_settings = "gossip_interval = \"5ms\"\ndissemination = \"owners\"\n";
  spec.policies = "[[policy]]\nname = \"p\"\nlimit = 1000\nwindow = \"10s\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  REQUIRE(cluster.wait_until_connected(5s));
  drl::Client first = cluster.node(0).connect();
  drl::Client second = cluster.node(1).connect();
  for (int i = 0; i < 20; ++i) {
    REQUIRE(first.check(drl::CheckRequest{"p", "key-" + std::to_string(i)}).ok());
    REQUIRE(second.check(drl::CheckRequest{"p", "key-" + std::to_string(i)}).ok());
  }
  std::uint64_t shares = 0;
  std::uint64_t totals_sent = 0;
  REQUIRE(wait_until(
      [&] {
        shares = 0;
        totals_sent = 0;
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          const NodeStatus status = node_status(cluster.node(i));
          if (status.fields.at("dissemination") != "owners" ||
              status.fields.at("dissemination_now") != "owners") {
            return false;
          }
          shares += status.uint("owner_share_permille");
          totals_sent += status.uint("totals_messages_sent");
        }
        return totals_sent > 0;
      },
      5s, 20ms));
  // Four members share the keys: about 250 each, rounded down.
  CHECK(shares >= 990);
  CHECK(shares <= 1000);
  // Traffic per peer: each member sends and receives, and the node's totals hold the peers'.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    const NodeStatus status = node_status(cluster.node(i));
    REQUIRE(status.peers.size() == cluster.size() - 1);
    std::uint64_t sent = 0;
    std::uint64_t sent_bytes = 0;
    std::uint64_t received = 0;
    for (const PeerRow& peer : status.peers) {
      CHECK(peer.datagrams_sent > 0);
      CHECK(peer.datagrams_received > 0);
      CHECK(peer.bytes_sent > peer.datagrams_sent);
      sent += peer.datagrams_sent;
      sent_bytes += peer.bytes_sent;
      received += peer.datagrams_received;
    }
    // Read after the peers' rows: the node's own counters moved on meanwhile.
    const NodeStatus later = node_status(cluster.node(i));
    CHECK(sent <= later.uint("datagrams_sent"));
    CHECK(sent_bytes <= later.uint("datagram_bytes_sent"));
    CHECK(received <= later.uint("datagrams_received"));
  }
}

TEST_CASE(
    "owners: a key's first check on a node that never counted it waits for the owners' totals, "
    "and is denied when the other nodes used up the limit") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 4;
  spec.cluster_settings = "gossip_interval = \"5ms\"\ndissemination = \"owners\"\n";
  spec.policies = "[[policy]]\nname = \"p\"\nlimit = 5\nwindow = \"1h\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  REQUIRE(cluster.wait_until_connected(5s));
  REQUIRE(wait_until(
      [&] {
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          if (node_status(cluster.node(i)).fields.at("dissemination_now") != "owners") return false;
        }
        return true;
      },
      5s, 20ms));
  constexpr int kKeys = 12;
  drl::Client first = cluster.node(0).connect();
  for (int k = 0; k < kKeys; ++k) {
    for (int i = 0; i < 5; ++i) {
      const auto decision = first.check(drl::CheckRequest{"p", "user-" + std::to_string(k)});
      REQUIRE(decision.ok());
      REQUIRE(decision->allowed);
    }
  }
  // The owners hold node 0's counts a gossip round later; node 3 is sent none of them (it
  // counts none of these keys), and owns about a quarter of them.
  std::this_thread::sleep_for(300ms);
  drl::Client last = cluster.node(3).connect();
  int admitted = 0;
  for (int k = 0; k < kKeys; ++k) {
    const auto decision = last.check(drl::CheckRequest{"p", "user-" + std::to_string(k)});
    REQUIRE(decision.ok());
    admitted += decision->allowed ? 1 : 0;
  }
  CHECK(admitted == 0);
  const NodeStatus status = node_status(cluster.node(3));
  MESSAGE("node 3: " << status.uint("totals_waits") << " first checks waited for totals, "
                     << status.uint("totals_waits_answered") << " answered in time, "
                     << status.uint("totals_wait_us") << " us in all");
  CHECK(status.uint("totals_waits") > 0);
  CHECK(status.uint("totals_waits") <= kKeys);
  // The cluster's counters reach status with the next snapshot of the cluster thread.
  CHECK(wait_until([&] { return node_status(cluster.node(3)).uint("totals_requests_sent") > 0; },
                   5s, 20ms));
}

// A day's window (days begin at midnight UTC): the test's counts stay in one window, if it does
// not begin in the last minute of a day (wait_for_a_whole_minute_of_day).
constexpr const char* kDayPolicy = "[[policy]]\nname = \"p\"\nlimit = 100000\nwindow = \"24h\"\n";
constexpr std::int64_t kDayMs = 86'400'000;

void wait_for_a_whole_minute_of_day() {
  const std::int64_t into_day_ms = wall_ms() % kDayMs;
  if (into_day_ms > kDayMs - 60'000)
    std::this_thread::sleep_for(Millis(kDayMs - into_day_ms + 1000));
}

std::string key_name(std::size_t k) {
  return "user-" + std::to_string(k);
}

// Checks key k on the node `times` times; every check is admitted (the limit is far away).
void count_key(drl::Client& client, std::size_t k, std::uint64_t times) {
  for (std::uint64_t i = 0; i < times; ++i) {
    const auto decision = client.check(drl::CheckRequest{"p", key_name(k)});
    REQUIRE(decision.ok());
    REQUIRE(decision->allowed);
  }
}

// True once every node reads, for every key, the count of `expected` in the window that holds
// now; `last` tells what each node read of the first key that was not there yet.
bool every_node_reads(const std::vector<const DaemonProcess*>& nodes,
                      const std::vector<std::uint64_t>& expected, std::uint64_t window_id,
                      std::string* last) {
  for (std::size_t k = 0; k < expected.size(); ++k) {
    if (!wait_for_totals(nodes, "p", key_name(k), {{window_id, expected[k]}}, 10s, last)) {
      *last = key_name(k) + ", expected " + std::to_string(expected[k]) + ":\n" + *last;
      return false;
    }
  }
  return true;
}

TEST_CASE(
    "owners: two nodes join a cluster of four through one seed address, two members then leave "
    "on SIGTERM, and every node still reads every key's count: a change of owners loses none") {
  wait_for_a_whole_minute_of_day();
  TempDir dir;
  constexpr std::size_t kNodes = 6;
  constexpr std::size_t kFirst = 4;
  constexpr std::size_t kKeys = 60;
  ClusterSpec spec;
  spec.nodes = kNodes;
  spec.ports = pick_udp_ports(kNodes);
  spec.cluster_settings = "gossip_interval = \"5ms\"\ndissemination = \"owners\"\n";
  spec.policies = kDayPolicy;
  const auto address = [&](std::size_t i) { return "127.0.0.1:" + std::to_string(spec.ports[i]); };
  spec.peer_lists.resize(kNodes);
  spec.node_cluster_settings.resize(kNodes);
  for (std::size_t i = 0; i < kFirst; ++i) {
    for (std::size_t j = 0; j < kFirst; ++j) spec.peer_lists[i].push_back(address(j));
  }
  // The joiners list no peer but themselves (a node leaves its own address out), and n1 as
  // their one seed.
  for (std::size_t i = kFirst; i < kNodes; ++i) {
    spec.peer_lists[i] = {address(i)};
    spec.node_cluster_settings[i] = "seeds = [\"" + address(0) + "\"]\n";
  }
  Cluster cluster(dir, spec);
  cluster.start(kFirst);
  REQUIRE(cluster.wait_until_connected(5s, {0, 1, 2, 3}));

  std::vector<std::uint64_t> expected(kKeys, 0);
  std::vector<drl::Client> clients;
  for (std::size_t i = 0; i < kFirst; ++i) clients.push_back(cluster.node(i).connect());
  for (std::size_t i = 0; i < kFirst; ++i) {
    for (std::size_t k = 0; k < kKeys; ++k) {
      const std::uint64_t times = 1 + (k + i) % 3;
      count_key(clients[i], k, times);
      expected[k] += times;
    }
  }
  const auto counters = clients[0].inspect(drl::CheckRequest{"p", key_name(0), 0});
  REQUIRE(counters.ok());
  REQUIRE(!counters->empty());
  const std::uint64_t window_id = counters->front().window_id;

  // Join: n5 and n6 know only n1; n1's heartbeats name the others.
  cluster.start_node(4);
  cluster.start_node(5);
  INFO(cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s));
  CHECK(node_status(cluster.node(4)).uint("seed_addresses_added") == 1);
  for (std::size_t i = kFirst; i < kNodes; ++i) {
    clients.push_back(cluster.node(i).connect());
    for (std::size_t k = 0; k < kKeys; ++k) count_key(clients[i], k, 2);
  }
  for (std::uint64_t& count : expected) count += 2 * (kNodes - kFirst);
  std::vector<const DaemonProcess*> all;
  for (std::size_t i = 0; i < kNodes; ++i) all.push_back(&cluster.node(i));
  std::string last;
  CHECK_MESSAGE(every_node_reads(all, expected, window_id, &last), last);

  // Leave: n1 and n2 stop cleanly; the others mark them left (a peer that only went silent would
  // be down, never left),
  // and the keys they owned (some both) move to the four that stay.
  for (std::size_t i = 0; i < 2; ++i) {
    const std::optional<int> exit_code = cluster.node(i).stop();
    REQUIRE(exit_code.has_value());
    CHECK(*exit_code == 0);
  }
  std::vector<const DaemonProcess*> staying;
  for (std::size_t i = 2; i < kNodes; ++i) staying.push_back(&cluster.node(i));
  CHECK(wait_until(
      [&] {
        for (const DaemonProcess* node : staying) {
          const NodeStatus status = node_status(*node);
          for (const char* gone : {"n1", "n2"}) {
            const PeerRow* row = status.peer(gone);
            if (row == nullptr || row->state != "left") return false;
          }
        }
        return true;
      },
      10s, 20ms));
  for (std::size_t i = 2; i < kNodes; ++i) {
    for (std::size_t k = 0; k < kKeys; ++k) count_key(clients[i], k, 1);
  }
  for (std::uint64_t& count : expected) count += kNodes - 2;
  CHECK_MESSAGE(every_node_reads(staying, expected, window_id, &last), last);
  std::uint64_t shares = 0;
  for (const DaemonProcess* node : staying)
    shares += node_status(*node).uint("owner_share_permille");
  CHECK(shares >= 990);
  CHECK(shares <= 1000);
}

}  // namespace
}  // namespace drl::integration
