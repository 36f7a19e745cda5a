// Runtime overrides through the replication logic, on an in-memory network with virtual time:
// they reach every node, come back to a restarted one, clear everywhere, and converge under
// concurrent writes and loss.
#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/override_table.hpp"
#include "core/replicator.hpp"

using namespace drl::core;

namespace {

constexpr std::int64_t kTtlMs = 15 * 60 * 1000;

struct Node {
  Node(const std::string& id, std::uint64_t incarnation, std::vector<std::string> seeds,
       std::int64_t override_sync_interval_ms, bool with_table)
      : store(StoreOptions{1000, 4, true}), origins(Origin{id, incarnation}, 64), table(id) {
    ReplicationConfig config;
    config.node_id = id;
    config.incarnation = incarnation;
    config.address = id + ":7000";
    config.seeds = std::move(seeds);
    config.repair_interval_ms = 50;
    config.override_sync_interval_ms = override_sync_interval_ms;
    replicator = std::make_unique<Replicator>(config, store, origins);
    if (with_table) replicator->set_overrides(&table);
  }

  CounterStore store;
  OriginTable origins;
  OverrideTable table;
  std::unique_ptr<Replicator> replicator;
};

// Nodes "a", "b", "c", ... whose messages arrive after 1 ms unless `drop` says no.
class Cluster {
 public:
  explicit Cluster(std::size_t size, std::int64_t override_sync_interval_ms = 1000)
      : sync_interval_ms_(override_sync_interval_ms) {
    for (std::size_t i = 0; i < size; ++i) names_.push_back(std::string(1, char('a' + i)));
    for (std::size_t i = 0; i < size; ++i) nodes_.push_back(make_node(i, 1000 + i, true));
  }

  Node& node(std::size_t i) { return *nodes_[i]; }
  OverrideTable& table(std::size_t i) { return nodes_[i]->table; }
  std::function<bool(std::size_t from, std::size_t to, const ClusterMessage&)> drop;

  MonoTime mono() const { return MonoTime{now_ms_ * 1'000'000}; }
  WallTime wall() const { return WallTime{1'800'000'000'000 + now_ms_}; }

  void run_ms(std::int64_t ms) {
    for (std::int64_t step = 0; step < ms; ++step) {
      ++now_ms_;
      deliver_due();
      for (std::size_t i = 0; i < nodes_.size(); ++i) {
        Replicator& r = *nodes_[i]->replicator;
        if (r.next_deadline() <= mono()) r.on_timer(mono(), wall());
        for (Outgoing& out : r.take_outgoing()) {
          const std::size_t to = index_of(out.address);
          if (out.message.type == MessageType::overrides) ++override_messages_;
          if (to >= nodes_.size() || (drop && drop(i, to, out.message))) continue;
          in_flight_.push_back(Flight{now_ms_ + 1, i, to, std::move(out.message)});
        }
      }
    }
  }

  // Kills node `i` and starts it again: new incarnation, empty store, empty override table.
  void restart(std::size_t i) {
    nodes_[i] = make_node(i, 5000 + static_cast<std::uint64_t>(now_ms_), true);
    std::erase_if(in_flight_, [i](const Flight& f) { return f.to == i || f.from == i; });
  }
  void replace_without_table(std::size_t i) {
    nodes_[i] = make_node(i, 7000 + static_cast<std::uint64_t>(now_ms_), false);
  }

  OverrideRecord set(std::size_t i, const OverrideScope& scope, OverrideKind kind,
                     std::uint64_t value) {
    std::string error;
    OverrideRecord record = table(i).set(scope, kind, value, kTtlMs, "test", wall(), error);
    REQUIRE(error.empty());
    return record;
  }

  std::uint64_t override_messages() const { return override_messages_; }

 private:
  struct Flight {
    std::int64_t due_ms;
    std::size_t from;
    std::size_t to;
    ClusterMessage message;
  };

  std::unique_ptr<Node> make_node(std::size_t i, std::uint64_t incarnation, bool with_table) {
    std::vector<std::string> seeds;
    for (std::size_t j = 0; j < names_.size(); ++j) seeds.push_back(names_[j] + ":7000");
    return std::make_unique<Node>(names_[i], incarnation, seeds, sync_interval_ms_, with_table);
  }

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
      } else {
        nodes_[f.to]->replicator->on_message(mono(), wall(), names_[f.from] + ":7000", f.message);
      }
    }
    in_flight_.swap(later);
  }

  std::int64_t sync_interval_ms_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Flight> in_flight_;
  std::int64_t now_ms_ = 0;
  std::uint64_t override_messages_ = 0;
};

const OverrideScope kFreeTier{"api", "free", "", 0};

// The active override of `scope` on a node, if any.
const OverrideRecord* active_of(const std::vector<OverrideRecord>& active,
                                const OverrideScope& scope) {
  for (const OverrideRecord& record : active) {
    if (record.scope == scope) return &record;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("overrides: an override set on one node is in every table within one gossip interval") {
  Cluster cluster(3, 60'000);  // no anti-entropy in this test: the push alone must do it
  cluster.run_ms(500);
  const OverrideRecord set = cluster.set(0, kFreeTier, OverrideKind::factor, 500);
  cluster.run_ms(6);  // one 5 ms interval plus 1 ms latency
  for (std::size_t n = 1; n < 3; ++n) {
    CAPTURE(n);
    const auto active = cluster.table(n).active(cluster.wall());
    const OverrideRecord* got = active_of(active, kFreeTier);
    REQUIRE(got != nullptr);
    CHECK(got->kind == OverrideKind::factor);
    CHECK(got->value == 500);
    CHECK(got->stamp == set.stamp);
    CHECK(cluster.node(n).replicator->stats().override_records_merged == 1);
  }
  CHECK(cluster.node(0).replicator->stats().override_messages_sent >= 2);
}

TEST_CASE("overrides: a restarted node gets the overrides back from its peers") {
  Cluster cluster(3, 60'000);
  cluster.run_ms(500);
  const OverrideRecord set = cluster.set(1, kFreeTier, OverrideKind::limit, 10);
  cluster.run_ms(10);
  cluster.restart(2);
  CHECK(cluster.table(2).records().empty());
  // Heard within a heartbeat interval (200 ms), then sent in the next gossip round; long
  // before any anti-entropy round.
  cluster.run_ms(250);
  const auto active = cluster.table(2).active(cluster.wall());
  const OverrideRecord* got = active_of(active, kFreeTier);
  REQUIRE(got != nullptr);
  CHECK(got->value == 10);
  CHECK(got->stamp == set.stamp);
}

TEST_CASE("overrides: a clear on any node removes the override on every node") {
  Cluster cluster(3, 60'000);
  cluster.run_ms(500);
  cluster.set(0, kFreeTier, OverrideKind::limit, 10);
  cluster.run_ms(10);
  REQUIRE(active_of(cluster.table(2).active(cluster.wall()), kFreeTier) != nullptr);
  CHECK(cluster.table(1).clear(kFreeTier, cluster.wall()));
  cluster.run_ms(6);
  for (std::size_t n = 0; n < 3; ++n) {
    CAPTURE(n);
    CHECK(cluster.table(n).active(cluster.wall()).empty());
    // The tombstone stays, so that an old copy still travelling cannot bring the override back.
    const auto records = cluster.table(n).records();
    REQUIRE(records.size() == 1);
    CHECK(records[0].kind == OverrideKind::cleared);
  }
}

TEST_CASE("overrides: concurrent sets on three nodes converge to the same winner everywhere") {
  Cluster cluster(3);
  cluster.run_ms(500);
  // Same scope, same wall clock, before any of them has seen another's: the stamps tie on time
  // and the node id decides, the same way on every node.
  cluster.set(0, kFreeTier, OverrideKind::limit, 10);
  cluster.set(1, kFreeTier, OverrideKind::limit, 20);
  cluster.set(2, kFreeTier, OverrideKind::factor, 300);
  cluster.run_ms(20);
  for (std::size_t n = 0; n < 3; ++n) {
    CAPTURE(n);
    const auto records = cluster.table(n).records();
    REQUIRE(records.size() == 1);
    CHECK(records[0].stamp.node_id == "c");
    CHECK(records[0].kind == OverrideKind::factor);
    CHECK(records[0].value == 300);
  }
  // A later set wins over all three, wherever it is made.
  cluster.run_ms(1);
  cluster.set(0, kFreeTier, OverrideKind::limit, 7);
  cluster.run_ms(10);
  for (std::size_t n = 0; n < 3; ++n) {
    const auto records = cluster.table(n).records();
    REQUIRE(records.size() == 1);
    CHECK(records[0].value == 7);
  }
}

TEST_CASE("overrides: once the tables agree the pushes stop; anti-entropy alone goes on") {
  Cluster cluster(3, 1000);
  cluster.run_ms(500);
  cluster.set(0, kFreeTier, OverrideKind::limit, 10);
  cluster.set(1, OverrideScope{"api", "", "", 0}, OverrideKind::factor, 2000);
  cluster.run_ms(30);
  const std::uint64_t converged = cluster.override_messages();
  cluster.run_ms(400);  // less than the anti-entropy interval after the last one
  CHECK(cluster.override_messages() == converged);
  for (std::size_t n = 0; n < 3; ++n) CHECK(cluster.table(n).records().size() == 2);
}

TEST_CASE("overrides: with every push lost, anti-entropy still brings them to every node") {
  Cluster cluster(3, 1000);
  cluster.run_ms(500);
  bool lose = true;
  cluster.drop = [&lose](std::size_t, std::size_t, const ClusterMessage& m) {
    return lose && m.type == MessageType::overrides;
  };
  cluster.set(0, kFreeTier, OverrideKind::limit, 10);
  cluster.run_ms(50);
  CHECK(cluster.table(1).records().empty());
  lose = false;
  cluster.run_ms(1100);
  for (std::size_t n = 1; n < 3; ++n) {
    CAPTURE(n);
    CHECK(active_of(cluster.table(n).active(cluster.wall()), kFreeTier) != nullptr);
  }
}

TEST_CASE("overrides: a node without a table sends none and ignores those it receives") {
  Cluster cluster(2, 100);
  cluster.replace_without_table(1);
  cluster.run_ms(500);
  cluster.set(0, kFreeTier, OverrideKind::limit, 10);
  cluster.run_ms(500);
  const ReplicationStats stats = cluster.node(1).replicator->stats();
  CHECK(stats.override_messages_sent == 0);
  CHECK(stats.override_messages_received > 0);
  CHECK(stats.override_records_merged == 0);
  CHECK(cluster.table(1).records().empty());
}
