// The replication logic on an in-memory network with virtual time: no sockets, no sleeping.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/replicator.hpp"

using namespace drl::core;

namespace {

const char* const kPolicies = R"(
[[policy]]
name = "api"
limit = 100
window = "1m"
algorithm = "fixed"
)";

struct Node {
  Node(const std::string& id, std::uint64_t incarnation, std::vector<std::string> seeds,
       PartitionPolicy policy)
      : store(StoreOptions{10'000, 4, true}),
        origins(Origin{id, incarnation}, 256),
        engine(store, OriginTable::local_index, &signals) {
    ReplicationConfig config;
    config.node_id = id;
    config.incarnation = incarnation;
    config.address = id + ":7000";
    config.seeds = std::move(seeds);
    config.repair_interval_ms = 50;
    replicator = std::make_unique<Replicator>(config, store, origins);
    signals.proportional.store(policy == PartitionPolicy::proportional);
  }

  CounterStore store;
  OriginTable origins;
  ClusterSignals signals;
  CheckEngine engine;
  std::unique_ptr<Replicator> replicator;
};

// Nodes "a", "b", "c", ... whose messages arrive after `latency_ms` unless `drop` says no.
class Cluster {
 public:
  explicit Cluster(std::size_t size, PartitionPolicy policy = PartitionPolicy::optimistic,
                   bool full_seeds = true) {
    auto parsed = drl::config::parse_config(kPolicies, "test");
    REQUIRE(parsed.ok());
    policies_ = parsed->policies;
    for (std::size_t i = 0; i < size; ++i) names_.push_back(std::string(1, char('a' + i)));
    for (std::size_t i = 0; i < size; ++i) {
      std::vector<std::string> seeds;
      for (std::size_t j = 0; j < size; ++j) {
        // Without full seeds, everyone knows only "a" (and "a" knows nobody).
        if (full_seeds || (i != 0 && j == 0)) seeds.push_back(names_[j] + ":7000");
      }
      nodes_.push_back(std::make_unique<Node>(names_[i], 1000 + i, seeds, policy));
      policy_ = policy;
    }
  }

  Node& node(std::size_t i) { return *nodes_[i]; }
  std::int64_t now_ms() const { return now_ms_; }
  std::function<bool(std::size_t from, std::size_t to, const ClusterMessage&)> drop;
  std::int64_t latency_ms = 1;

  // Runs the cluster for `ms` milliseconds of virtual time, 1 ms at a time.
  void run_ms(std::int64_t ms) {
    for (std::int64_t step = 0; step < ms; ++step) {
      ++now_ms_;
      deliver_due();
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (!nodes_[i]) continue;
        Replicator& r = *nodes_[i]->replicator;
        if (r.next_deadline() <= mono()) r.on_timer(mono(), wall());
        for (Outgoing& out : r.take_outgoing()) {
          const std::size_t to = index_of(out.address);
          ++sent_[static_cast<int>(out.message.type)];
          if (to >= nodes_.size() || (drop && drop(i, to, out.message))) continue;
          in_flight_.push_back(Flight{now_ms_ + latency_ms, i, to, std::move(out.message)});
        }
        nodes_[i]->signals.reachable_permille.store(r.reachable_permille(mono()));
        nodes_[i]->signals.staleness_ms.store(r.staleness_ms(mono()));
      }
    }
  }

  // Allowed checks of `key` on node `i`.
  int check(std::size_t i, const std::string& key, int times) {
    int allowed = 0;
    CheckOutcome outcome;
    for (int t = 0; t < times; ++t) {
      const CheckItem item{"api", key, "", "", 1};
      nodes_[i]->engine.check(*policies_, wall(), std::span(&item, 1), outcome);
      allowed += outcome.allowed ? 1 : 0;
    }
    return allowed;
  }

  // Cluster-wide count of `key` as node `i` sees it (cost-0 peek).
  std::uint64_t seen(std::size_t i, const std::string& key) {
    CheckOutcome outcome;
    const CheckItem item{"api", key, "", "", 0};
    nodes_[i]->engine.check(*policies_, wall(), std::span(&item, 1), outcome);
    return outcome.limits[0].rule->limit - outcome.limits[0].verdict.remaining;
  }

  // Kills node `i` and starts it again with a new incarnation and an empty store.
  void restart(std::size_t i) {
    std::vector<std::string> seeds;
    for (std::size_t j = 0; j < nodes_.size(); ++j) seeds.push_back(names_[j] + ":7000");
    nodes_[i] = std::make_unique<Node>(names_[i], 5000 + now_ms_, seeds, policy_);
    std::erase_if(in_flight_, [i](const Flight& f) { return f.to == i || f.from == i; });
  }

  std::uint64_t sent(MessageType type) const { return sent_[static_cast<int>(type)]; }
  void reset_sent() { std::fill(std::begin(sent_), std::end(sent_), 0); }

 private:
  struct Flight {
    std::int64_t due_ms;
    std::size_t from;
    std::size_t to;
    ClusterMessage message;
  };

  MonoTime mono() const { return MonoTime{now_ms_ * 1'000'000}; }
  WallTime wall() const { return WallTime{1'800'000'000'000 + now_ms_}; }

  std::size_t index_of(const std::string& address) const {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] + ":7000" == address) return i;
    }
    return names_.size();
  }

  void deliver_due() {
    std::vector<Flight> later;
    for (Flight& f : in_flight_) {
      if (f.due_ms > now_ms_) {
        later.push_back(std::move(f));
      } else if (nodes_[f.to]) {
        nodes_[f.to]->replicator->on_message(mono(), wall(), names_[f.from] + ":7000", f.message);
      }
    }
    in_flight_.swap(later);
  }

  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Flight> in_flight_;
  std::shared_ptr<const PolicySet> policies_;
  PartitionPolicy policy_ = PartitionPolicy::optimistic;
  std::int64_t now_ms_ = 0;
  std::uint64_t sent_[8] = {};
};

}  // namespace

TEST_CASE("gossip: a key counted on one node is seen by every node within one interval") {
  Cluster cluster(3);
  cluster.run_ms(500);
  CHECK(cluster.check(0, "alice", 10) == 10);
  cluster.run_ms(7);  // one 5 ms interval plus 1 ms latency
  CHECK(cluster.seen(1, "alice") == 10);
  CHECK(cluster.seen(2, "alice") == 10);
}

TEST_CASE("gossip: a key checked on every node in turn is counted once cluster-wide") {
  Cluster cluster(3);
  cluster.run_ms(500);
  int allowed = 0;
  // Slower than the gossip: no overshoot at all.
  for (int i = 0; i < 150; ++i) {
    allowed += cluster.check(i % 3, "bob", 1);
    cluster.run_ms(10);
  }
  CHECK(allowed == 100);
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.seen(n, "bob") == 100);
}

TEST_CASE("gossip: an idle cluster sends only heartbeats, at a low rate") {
  Cluster cluster(3);
  cluster.run_ms(1000);
  cluster.reset_sent();
  cluster.run_ms(1000);
  CHECK(cluster.sent(MessageType::delta) == 0);
  CHECK(cluster.sent(MessageType::repair) == 0);
  // 3 nodes x 2 peers x 5 heartbeats per second, and as many acks.
  CHECK(cluster.sent(MessageType::heartbeat) <= 3 * 2 * 6);
}

TEST_CASE("gossip: keys that changed are sent in their round and once more, then not again") {
  Cluster cluster(2);
  cluster.run_ms(1000);
  cluster.check(0, "k1", 1);
  cluster.check(0, "k2", 1);
  cluster.reset_sent();
  cluster.run_ms(5);
  CHECK(cluster.sent(MessageType::delta) == 1);
  cluster.reset_sent();
  cluster.run_ms(5);  // the resend, in case the first copy was lost
  CHECK(cluster.sent(MessageType::delta) == 1);
  cluster.reset_sent();
  cluster.run_ms(40);  // nothing changed since
  CHECK(cluster.sent(MessageType::delta) == 0);
}

TEST_CASE("gossip: a key's last change reaches a peer when only one of its two copies is lost") {
  Cluster cluster(2);
  cluster.run_ms(1000);
  int deltas = 0;
  cluster.drop = [&deltas](std::size_t, std::size_t, const ClusterMessage& m) {
    return m.type == MessageType::delta && deltas++ == 0;  // lose the first copy
  };
  cluster.check(0, "henry", 7);
  cluster.run_ms(12);
  CHECK(cluster.seen(1, "henry") == 7);
}

TEST_CASE("anti-entropy: with every delta lost, counts still converge, idle keys included") {
  Cluster cluster(3);
  cluster.drop = [](std::size_t, std::size_t, const ClusterMessage& m) {
    return m.type == MessageType::delta;
  };
  cluster.run_ms(500);
  CHECK(cluster.check(0, "carol", 30) == 30);
  CHECK(cluster.check(1, "carol", 20) == 20);
  cluster.run_ms(10);
  CHECK(cluster.sent(MessageType::delta) > 0);  // sent, and all lost
  cluster.run_ms(1000);                         // no new traffic; only repair
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.seen(n, "carol") == 50);
}

TEST_CASE("restart: a restarted node gets its old counts back and counts nothing twice") {
  Cluster cluster(3);
  cluster.run_ms(500);
  CHECK(cluster.check(2, "dave", 40) == 40);
  cluster.run_ms(10);
  cluster.restart(2);
  CHECK(cluster.seen(2, "dave") == 0);
  cluster.run_ms(1000);
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.seen(n, "dave") == 40);
  CHECK(cluster.check(2, "dave", 100) == 60);
  cluster.run_ms(20);
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.seen(n, "dave") == 100);
}

TEST_CASE("membership: nodes configured with one peer find each other through it") {
  Cluster cluster(4, PartitionPolicy::optimistic, false);
  cluster.run_ms(2000);
  for (std::size_t n = 0; n < 4; ++n) {
    std::set<std::string> alive;
    for (const PeerStatus& peer : cluster.node(n).replicator->peers(MonoTime{2000'000'000})) {
      if (peer.state == PeerState::alive) alive.insert(peer.node_id);
    }
    CAPTURE(n);
    CHECK(alive.size() == 3);
  }
  CHECK(cluster.check(3, "erin", 5) == 5);
  cluster.run_ms(10);
  CHECK(cluster.seen(1, "erin") == 5);
}

TEST_CASE("failure detection: a silent peer goes suspect, then down, then alive when heard") {
  Cluster cluster(2);
  cluster.run_ms(500);
  bool cut = true;
  cluster.drop = [&cut](std::size_t from, std::size_t, const ClusterMessage&) {
    return cut && from == 1;
  };
  auto state_of_b = [&] {
    return cluster.node(0).replicator->peers(MonoTime{cluster.now_ms() * 1'000'000})[0].state;
  };
  cluster.run_ms(1300);
  CHECK(state_of_b() == PeerState::suspect);
  cluster.run_ms(2000);
  CHECK(state_of_b() == PeerState::down);
  cut = false;
  cluster.run_ms(400);
  CHECK(state_of_b() == PeerState::alive);
}

TEST_CASE("partition: under the optimistic policy each side admits up to the full limit") {
  Cluster cluster(3, PartitionPolicy::optimistic);
  cluster.run_ms(500);
  cluster.drop = [](std::size_t from, std::size_t to, const ClusterMessage&) {
    return (from == 2) != (to == 2);  // c alone on one side
  };
  cluster.run_ms(4000);
  CHECK(cluster.check(0, "frank", 150) == 100);
  CHECK(cluster.check(2, "frank", 150) == 100);
}

TEST_CASE("partition: under the proportional policy each side admits its share of the limit") {
  Cluster cluster(3, PartitionPolicy::proportional);
  cluster.run_ms(500);
  cluster.drop = [](std::size_t from, std::size_t to, const ClusterMessage&) {
    return (from == 2) != (to == 2);
  };
  cluster.run_ms(4000);
  CHECK(cluster.node(0).replicator->reachable_permille(MonoTime{cluster.now_ms() * 1'000'000}) ==
        666);
  CHECK(cluster.node(2).replicator->reachable_permille(MonoTime{cluster.now_ms() * 1'000'000}) ==
        333);
  const int majority = cluster.check(0, "grace", 150);
  cluster.run_ms(10);
  const int minority = cluster.check(2, "grace", 150);
  CHECK(majority == 66);
  CHECK(minority == 33);
  CHECK(majority + minority <= 100);
  // After the heal both sides see everything and the full limit applies again.
  cluster.drop = nullptr;
  cluster.run_ms(1500);
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.seen(n, "grace") == 99);
  CHECK(cluster.check(1, "grace", 5) == 1);
}

TEST_CASE("heartbeats measure the round trip and the staleness of what peers told us") {
  Cluster cluster(2);
  cluster.latency_ms = 3;
  cluster.run_ms(1000);
  const auto peers = cluster.node(0).replicator->peers(MonoTime{cluster.now_ms() * 1'000'000});
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].rtt_us == 6000);
  CHECK(peers[0].clock_offset_ms == 0);
  CHECK(cluster.node(0).replicator->staleness_ms(MonoTime{cluster.now_ms() * 1'000'000}) <= 200);
}

TEST_CASE("timers: after a round the next deadline is in the future, however late the timer ran") {
  // Found by the cluster_datagram fuzzer: a timer late by exactly one gossip interval left the
  // next round due at once.
  Node node("a", 1, {}, PartitionPolicy::optimistic);
  Replicator& replicator = *node.replicator;
  MonoTime now{1'000'000'000};
  replicator.on_timer(now, WallTime{1'800'000'000'000});
  for (const std::int64_t late_ms : {0, 1, 4, 5, 6, 10, 15, 100, 5000}) {
    CAPTURE(late_ms);
    const MonoTime due = replicator.next_deadline();
    CHECK(due > now);
    now = MonoTime{due.ns + late_ms * 1'000'000};
    replicator.on_timer(now, WallTime{1'800'000'000'000 + now.ns / 1'000'000});
    CHECK(replicator.next_deadline() > now);
  }
}
