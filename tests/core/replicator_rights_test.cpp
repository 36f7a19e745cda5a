// Rights of hard limits moving between replicators, on an in-memory network with virtual time.
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/replicator.hpp"

using namespace drl::core;

namespace {

const char* const kHard = R"(
[[policy]]
name = "sms"
limit = 30
window = "1m"
enforcement = "hard"
)";

constexpr std::int64_t kStartMs = 1'800'000'000'000;  // a whole number of minutes
constexpr std::int64_t kClockSkewMaxMs = 100;

struct Node {
  Node(const std::string& id, std::uint64_t incarnation, const std::vector<std::string>& members,
       bool await_members = false)
      : store(StoreOptions{1000, 4, true}),
        origins(Origin{id, incarnation}, 64),
        rights(rights_split_of(id + ":7000", members, 0, 0)),
        engine(store, OriginTable::local_index) {
    if (await_members) rights.await_members(kClockSkewMaxMs);
    engine.set_rights(&rights);
    ReplicationConfig config;
    config.node_id = id;
    config.incarnation = incarnation;
    config.address = id + ":7000";
    config.seeds = members;
    replicator = std::make_unique<Replicator>(config, store, origins);
    replicator->set_rights(&rights);
  }

  CounterStore store;
  OriginTable origins;
  RightsLedger rights;
  CheckEngine engine;
  std::unique_ptr<Replicator> replicator;
};

// Nodes "a", "b", "c": every message arrives 1 ms after it was sent, unless `drop` says no.
class Cluster {
 public:
  Cluster() {
    auto parsed = drl::config::parse_config(kHard, "test");
    REQUIRE(parsed.ok());
    policies_ = parsed->policies;
    for (const char* name : {"a", "b", "c"}) members_.push_back(std::string(name) + ":7000");
    for (const char* name : {"a", "b", "c"})
      nodes_.push_back(std::make_unique<Node>(name, 1, members_));
  }
  // Nodes "a", "b", ... each listing its own members, waiting for them to agree.
  explicit Cluster(const std::vector<std::vector<std::string>>& lists) {
    auto parsed = drl::config::parse_config(kHard, "test");
    REQUIRE(parsed.ok());
    policies_ = parsed->policies;
    for (std::size_t i = 0; i < lists.size(); ++i) {
      const std::string name(1, static_cast<char>('a' + i));
      nodes_.push_back(std::make_unique<Node>(name, 1, lists[i], true));
    }
  }

  Node& node(std::size_t i) { return *nodes_[i]; }
  WallTime wall() const { return WallTime{kStartMs + now_ms_}; }
  MonoTime mono() const { return MonoTime{now_ms_ * 1'000'000}; }
  std::function<bool(const ClusterMessage&)> drop;
  std::function<bool(const ClusterMessage&)> duplicate;

  void run_ms(std::int64_t ms) {
    for (std::int64_t step = 0; step < ms; ++step) {
      ++now_ms_;
      std::vector<std::pair<std::size_t, ClusterMessage>> due;
      due.swap(in_flight_);
      for (auto& [to, message] : due) {
        nodes_[to]->replicator->on_message(mono(), wall(), message.sender_address, message);
      }
      for (auto& node : nodes_) {
        Replicator& r = *node->replicator;
        if (r.next_deadline() <= mono()) r.on_timer(mono(), wall());
        for (Outgoing& out : r.take_outgoing()) {
          if (drop && drop(out.message)) continue;
          const std::size_t to = static_cast<std::size_t>(out.address[0] - 'a');
          if (duplicate && duplicate(out.message)) in_flight_.emplace_back(to, out.message);
          in_flight_.emplace_back(to, std::move(out.message));
        }
      }
    }
  }

  // Checks `key` on node `i` `times` times; returns how many were admitted.
  int admit(std::size_t i, const std::string& key, int times) {
    int admitted = 0;
    CheckOutcome outcome;
    for (int t = 0; t < times; ++t) {
      const CheckItem item{"sms", key, "", "", 1};
      nodes_[i]->engine.check(*policies_, wall(), std::span(&item, 1), outcome);
      admitted += outcome.allowed ? 1 : 0;
    }
    return admitted;
  }

 private:
  std::vector<std::string> members_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::pair<std::size_t, ClusterMessage>> in_flight_;
  std::shared_ptr<const PolicySet> policies_;
  std::int64_t now_ms_ = 0;
};

}  // namespace

TEST_CASE(
    "hard rights: a node whose share is spent borrows its idle peers' rights, and the "
    "cluster admits the limit, no more") {
  Cluster cluster;
  cluster.run_ms(20);  // the nodes meet
  int admitted = cluster.admit(0, "tenant", 15);
  CHECK(admitted == 10);  // a's share of 30 over three
  for (int round = 0; round < 20; ++round) {
    cluster.run_ms(10);
    admitted += cluster.admit(0, "tenant", 5);
  }
  CHECK(admitted == 30);  // b's and c's shares came to a
  CHECK(cluster.node(0).replicator->stats().rights_received == 20);
  CHECK(cluster.node(1).replicator->stats().rights_granted +
            cluster.node(2).replicator->stats().rights_granted ==
        20);
  // What b and c gave away, they no longer have.
  CHECK(cluster.admit(1, "tenant", 5) == 0);
  CHECK(cluster.admit(2, "tenant", 5) == 0);
}

TEST_CASE(
    "hard rights: a node short of rights gets an idle peer's rights, asking a peer with nothing "
    "to spare at most once per key") {
  Cluster cluster;
  // b's own requests for rights are lost, so that it takes nobody's (its answers travel).
  cluster.drop = [](const ClusterMessage& m) {
    return m.type == MessageType::rights && m.sender_id == "b" &&
           std::any_of(m.rights.begin(), m.rights.end(),
                       [](const RightsRecord& r) { return r.asked > 0; });
  };
  cluster.run_ms(20);  // the nodes meet
  const std::vector<std::string> keys = {"t1", "t2", "t3", "t4", "t5", "t6"};
  // b spends its share of every key; c admits nothing.
  for (const std::string& key : keys) CHECK(cluster.admit(1, key, 10) == 10);
  for (const std::string& key : keys) CHECK(cluster.admit(0, key, 10) == 10);  // a's shares
  for (int round = 0; round < 4; ++round) {
    cluster.run_ms(10);
    for (const std::string& key : keys) cluster.admit(0, key, 10);
  }
  // Each key's rights came from c; b, asked first for some keys, said once it had nothing.
  CHECK(cluster.node(2).replicator->stats().rights_granted == 10 * keys.size());
  CHECK(cluster.node(1).replicator->stats().rights_messages_received <= keys.size());
  for (const std::string& key : keys) CHECK(cluster.admit(0, key, 1) == 0);  // 30 admitted
}

TEST_CASE("hard rights: duplicated and lost rights messages never make rights out of nothing") {
  Cluster cluster;
  int turn = 0;
  cluster.duplicate = [](const ClusterMessage& m) { return m.type == MessageType::rights; };
  cluster.drop = [&turn](const ClusterMessage& m) {
    return m.type == MessageType::rights && ++turn % 3 == 0;
  };
  cluster.run_ms(20);
  int admitted = 0;
  for (int round = 0; round < 100; ++round) {
    for (std::size_t node = 0; node < 3; ++node) {
      admitted += cluster.admit(node, "tenant", node == 0 ? 4 : 1);
    }
    cluster.run_ms(5);
  }
  CHECK(admitted <= 30);
  CHECK(admitted >= 25);  // lost grants cost rights, not many
}

TEST_CASE(
    "hard rights: a grant made to an earlier incarnation of a node gives the new one nothing") {
  Cluster cluster;
  cluster.run_ms(20);
  ClusterMessage grant;
  grant.type = MessageType::rights;
  grant.sender_id = "b";
  grant.sender_incarnation = 1;
  grant.sender_address = "b:7000";
  grant.granted_to = 0;  // a's incarnation is 1
  const std::uint64_t window_id = static_cast<std::uint64_t>(cluster.wall().unix_ms) / 60'000;
  CheckOutcome outcome;
  cluster.admit(0, "tenant", 1);
  grant.rights.push_back(RightsRecord{0, 60'000, window_id, 0, 0, 10});
  // The counter of "tenant": as the engine names it.
  Node& a = cluster.node(0);
  {
    const CheckItem item{"sms", "tenant", "", "", 0};
    auto parsed = drl::config::parse_config(kHard, "test");
    a.engine.check(*parsed->policies, cluster.wall(), std::span(&item, 1), outcome);
  }
  grant.rights[0].counter_id = outcome.limits[0].counter_id;
  a.replicator->on_message(cluster.mono(), cluster.wall(), "b:7000", grant);
  CHECK(a.replicator->stats().rights_grants_stale == 1);
  CHECK(a.rights.net(RightsKey{outcome.limits[0].counter_id, 60'000, window_id}) == 0);
  grant.granted_to = 1;
  a.replicator->on_message(cluster.mono(), cluster.wall(), "b:7000", grant);
  CHECK(a.rights.net(RightsKey{outcome.limits[0].counter_id, 60'000, window_id}) == 10);
}

TEST_CASE(
    "hard rights: members take their shares once every member they list named the same members, "
    "from the windows that begin after that plus the clock skew") {
  const std::vector<std::string> three = {"a:7000", "b:7000", "c:7000"};
  Cluster cluster({three, three, three});
  CHECK(cluster.node(0).rights.awaiting_members());
  CHECK(cluster.node(0).replicator->stats().rights_members_agreed == 0);
  CHECK(cluster.admit(0, "tenant", 5) == 0);  // no share yet, and nobody has any to lend
  cluster.run_ms(20);                         // the nodes meet
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK_FALSE(cluster.node(i).rights.awaiting_members());
    CHECK(cluster.node(i).replicator->stats().rights_members_agreed == 1);
    CHECK(cluster.node(i).replicator->stats().rights_members_mismatched == 0);
    // Agreed a few milliseconds into the first minute: shares from the second.
    const std::int64_t from = cluster.node(i).rights.split().rights_from_unix_ms;
    CHECK(from > kStartMs + kClockSkewMaxMs);
    CHECK(from < kStartMs + kClockSkewMaxMs + 20);
  }
  cluster.run_ms(60'000);
  CHECK(cluster.admit(0, "tenant", 15) == 10);  // a's share of 30 over three
}

TEST_CASE(
    "hard rights: a node that lists a member the others do not list takes no share, so that "
    "shares over three and over four never add up to more than the limit") {
  const std::vector<std::string> three = {"a:7000", "b:7000", "c:7000"};
  const std::vector<std::string> four = {"a:7000", "b:7000", "c:7000", "d:7000"};
  Cluster cluster({three, three, three, four});
  cluster.run_ms(60'000);  // the next minute, long after every node has met every other
  CHECK_FALSE(cluster.node(0).rights.awaiting_members());
  CHECK(cluster.node(3).rights.awaiting_members());
  CHECK(cluster.node(3).replicator->stats().rights_members_mismatched > 0);
  CHECK(cluster.node(3).replicator->stats().rights_members_agreed == 0);
  int admitted = 0;
  for (std::size_t i = 0; i < 4; ++i) admitted += cluster.admit(i, "tenant", 40);
  // a, b and c admit their shares of 30 over three; d nothing of its own (it may borrow, but
  // what it borrows was deducted from a lender first).
  CHECK(admitted <= 30);
  for (int round = 0; round < 20; ++round) {
    cluster.run_ms(10);
    for (std::size_t i = 0; i < 4; ++i) admitted += cluster.admit(i, "tenant", 5);
  }
  CHECK(admitted == 30);
}
