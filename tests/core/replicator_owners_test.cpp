// Owner dissemination: replicators that send their counts to each key's owners and hear the
// others' total back, on an in-memory network with virtual time.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/bounds.hpp"
#include "core/key_owners.hpp"
#include "core/replicator.hpp"

using namespace drl::core;

namespace {

constexpr std::int64_t kStartMs = 1'800'000'000'000;  // a whole number of seconds
constexpr std::uint64_t kWindowMs = 60'000;

struct Node {
  Node(const std::string& id, std::uint64_t incarnation, const std::vector<std::string>& peers,
       Dissemination dissemination)
      : store(StoreOptions{1000, 4, true}), origins(Origin{id, incarnation}, 256) {
    ReplicationConfig config;
    config.node_id = id;
    config.incarnation = incarnation;
    config.address = id;
    config.seeds = peers;
    config.dissemination = dissemination;
    replicator = std::make_unique<Replicator>(config, store, origins);
    replicator->set_totals_requests(&totals);
  }
  CounterStore store;
  OriginTable origins;
  TotalsRequests totals;
  std::unique_ptr<Replicator> replicator;
};

// Nodes "n0", "n1", ...: every message arrives 1 ms after it was sent, twice if `duplicate`.
class Cluster {
 public:
  // `older_version`: that node runs the mesh and its heartbeats do not say that it reads totals,
  // as a node of an earlier version.
  Cluster(int nodes, Dissemination dissemination, int older_version = -1)
      : dissemination_(dissemination), older_version_(older_version) {
    for (int i = 0; i < nodes; ++i) names_.push_back("n" + std::to_string(i));
    for (int i = 0; i < nodes; ++i) {
      std::vector<std::string> peers;
      for (int j = 0; j < nodes; ++j) {
        if (j != i) peers.push_back(names_[j]);
      }
      nodes_.push_back(std::make_unique<Node>(
          names_[i], 1, peers, i == older_version ? Dissemination::mesh : dissemination));
    }
  }

  Node& node(std::size_t i) { return *nodes_[i]; }
  const std::string& name(std::size_t i) const { return names_[i]; }
  // Node `i` stops: nothing reaches it, nothing leaves it, it runs no timer (a crash).
  void crash(std::size_t i) { crashed_.push_back(i); }
  // Node `i` stops cleanly: its final round (last counts, a leave) goes out, then nothing more.
  void leave(std::size_t i) {
    Replicator& r = *nodes_[i]->replicator;
    r.final_round(mono(), wall());
    for (Outgoing& out : r.take_outgoing()) {
      const std::size_t to = static_cast<std::size_t>(std::stoul(out.address.substr(1)));
      in_flight_.emplace_back(to, std::move(out.message));
    }
    crashed_.push_back(i);
  }
  // Node `i` starts again, a new incarnation with an empty store.
  void restart(std::size_t i) {
    std::erase(crashed_, i);
    std::vector<std::string> peers;
    for (std::size_t j = 0; j < names_.size(); ++j) {
      if (j != i) peers.push_back(names_[j]);
    }
    nodes_[i] = std::make_unique<Node>(names_[i], 2, peers, dissemination_);
  }
  std::size_t size() const { return nodes_.size(); }
  WallTime wall() const { return WallTime{kStartMs + now_ms_}; }
  MonoTime mono() const { return MonoTime{now_ms_ * 1'000'000}; }
  bool duplicate = false;
  // Messages of this type are held back and delivered newest first, at the end of each ms.
  bool reorder_totals = false;
  // While set, every message sent goes into `sent` too, with the index of its sender.
  bool record_sent = false;
  std::vector<std::pair<std::size_t, ClusterMessage>> sent;

  void run_ms(std::int64_t ms) {
    for (std::int64_t step = 0; step < ms; ++step) {
      ++now_ms_;
      std::vector<std::pair<std::size_t, ClusterMessage>> due;
      due.swap(in_flight_);
      if (reorder_totals) std::reverse(due.begin(), due.end());
      for (auto& [to, message] : due) {
        if (is_crashed(to)) continue;
        nodes_[to]->replicator->on_message(mono(), wall(), message.sender_address, message);
      }
      for (auto& node : nodes_) {
        if (is_crashed(static_cast<std::size_t>(&node - nodes_.data()))) continue;
        Replicator& r = *node->replicator;
        if (r.next_deadline() <= mono()) r.on_timer(mono(), wall());
        for (Outgoing& out : r.take_outgoing()) {
          const std::size_t to = static_cast<std::size_t>(std::stoul(out.address.substr(1)));
          if (older_version_ >= 0 && &node == &nodes_[static_cast<std::size_t>(older_version_)]) {
            out.message.flags &= static_cast<std::uint8_t>(~kFlagReadsTotals);
          }
          if (record_sent) {
            sent.emplace_back(static_cast<std::size_t>(&node - nodes_.data()), out.message);
          }
          if (duplicate) in_flight_.emplace_back(to, out.message);
          in_flight_.emplace_back(to, std::move(out.message));
        }
      }
    }
  }

  void count(std::size_t i, std::uint64_t key, std::uint32_t times) {
    const std::array<std::uint64_t, 1> ids{key};
    nodes_[i]->store.lock(ids).add(key, kWindowMs, wall(), OriginTable::local_index, times);
  }
  std::uint64_t seen(std::size_t i, std::uint64_t key) {
    const std::array<std::uint64_t, 1> ids{key};
    return nodes_[i]->store.lock(ids).view(key, kWindowMs, wall()).counts.current;
  }
  std::uint64_t seen_previous(std::size_t i, std::uint64_t key) {
    const std::array<std::uint64_t, 1> ids{key};
    return nodes_[i]->store.lock(ids).view(key, kWindowMs, wall()).counts.previous;
  }
  bool heard(std::size_t i, std::uint64_t key) {
    const std::array<std::uint64_t, 1> ids{key};
    return nodes_[i]->store.lock(ids).heard_from_owners(key, kWindowMs, wall());
  }
  // Node `i` asks the owners of `key` for their totals now, as a waiting check makes it.
  void ask(std::size_t i, std::uint64_t key) {
    REQUIRE(nodes_[i]->totals.want(key, kWindowMs, wall()));
    nodes_[i]->replicator->rights_now(mono(), wall());
  }
  std::size_t slots(std::size_t i, std::uint64_t key) {
    const std::array<std::uint64_t, 1> ids{key};
    return nodes_[i]->store.lock(ids).origins(key, kWindowMs, wall()).size();
  }

 private:
  bool is_crashed(std::size_t i) const {
    return std::find(crashed_.begin(), crashed_.end(), i) != crashed_.end();
  }
  std::vector<std::size_t> crashed_;
  Dissemination dissemination_;
  int older_version_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::pair<std::size_t, ClusterMessage>> in_flight_;
  std::int64_t now_ms_ = 0;
};

std::uint64_t key_of(std::uint64_t n) {
  return (n + 1) * 0x9e3779b97f4a7c15ULL;
}

// `wanted` keys node "n0" does not own (it would hold their origins' counts itself), on the ring
// of all the cluster's nodes.
std::vector<std::uint64_t> keys_not_owned_by_n0(const Cluster& cluster, std::size_t wanted) {
  KeyOwners ring;
  std::vector<std::string> members;
  for (std::size_t i = 0; i < cluster.size(); ++i) members.push_back(cluster.name(i));
  ring.assign(members);
  const auto n0 = static_cast<std::uint32_t>(
      std::find(ring.members().begin(), ring.members().end(), "n0") - ring.members().begin());
  std::vector<std::uint64_t> keys;
  for (std::uint64_t n = 0; keys.size() < wanted && n < 1000; ++n) {
    std::array<std::uint32_t, drl::bounds::owners_per_key> owners{};
    const std::size_t count = ring.owners_of(key_of(n), owners);
    if (std::find(owners.begin(), owners.begin() + static_cast<std::ptrdiff_t>(count), n0) ==
        owners.begin() + static_cast<std::ptrdiff_t>(count)) {
      keys.push_back(key_of(n));
    }
  }
  REQUIRE(keys.size() == wanted);
  return keys;
}

}  // namespace

TEST_CASE("owners: every node that counts a key sees the cluster's total within a few rounds") {
  Cluster cluster(8, Dissemination::owners);
  cluster.run_ms(30);  // the nodes meet
  for (std::uint64_t n = 0; n < 20; ++n) {
    for (std::size_t i = 0; i < cluster.size(); ++i) cluster.count(i, key_of(n), 3);
  }
  cluster.run_ms(30);
  for (std::uint64_t n = 0; n < 20; ++n) {
    for (std::size_t i = 0; i < cluster.size(); ++i) CHECK(cluster.seen(i, key_of(n)) == 24);
  }
  CHECK(cluster.node(0).replicator->stats().owners_mode == 1);
  CHECK(cluster.node(0).replicator->stats().totals_messages_received > 0);
}

TEST_CASE(
    "owners: a node that owns none of a key keeps two slots of it, its own and the owners' "
    "total, however many nodes count it") {
  Cluster cluster(12, Dissemination::owners);
  cluster.run_ms(30);
  for (std::uint64_t n = 0; n < 10; ++n) {
    for (std::size_t i = 0; i < cluster.size(); ++i) cluster.count(i, key_of(n), 1);
  }
  cluster.run_ms(30);
  std::size_t owners_seen = 0;
  for (std::uint64_t n = 0; n < 10; ++n) {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
      CHECK(cluster.seen(i, key_of(n)) == 12);
      const std::size_t slots = cluster.slots(i, key_of(n));
      if (slots > 2) {
        ++owners_seen;  // an owner holds every origin's slot
        CHECK(slots >= 12);
      }
    }
  }
  CHECK(owners_seen == 10 * 2);  // two owners per key
}

TEST_CASE("owners: duplicated and reordered datagrams never inflate a count") {
  Cluster cluster(6, Dissemination::owners);
  cluster.duplicate = true;
  cluster.reorder_totals = true;
  cluster.run_ms(30);
  for (int round = 0; round < 10; ++round) {
    for (std::size_t i = 0; i < cluster.size(); ++i) cluster.count(i, key_of(1), 1);
    cluster.run_ms(3);
  }
  cluster.run_ms(50);
  for (std::size_t i = 0; i < cluster.size(); ++i) CHECK(cluster.seen(i, key_of(1)) == 60);
}

TEST_CASE("owners: totals meant for an earlier life of a node are dropped") {
  Cluster cluster(1, Dissemination::owners);
  cluster.run_ms(10);
  ClusterMessage totals;
  totals.type = MessageType::totals;
  totals.sender_id = "elsewhere";
  totals.sender_incarnation = 1;
  totals.sender_address = "n9";
  totals.origins.push_back(Origin{"n0", 0});  // n0 is at incarnation 1
  totals.updates = std::make_shared<const std::vector<WireUpdate>>(std::vector<WireUpdate>{
      WireUpdate{key_of(1), kWindowMs, static_cast<std::uint64_t>(kStartMs) / kWindowMs, 0, 50}});
  cluster.node(0).replicator->on_message(cluster.mono(), cluster.wall(), "n9", totals);
  CHECK(cluster.node(0).replicator->stats().totals_stale == 1);
  CHECK(cluster.seen(0, key_of(1)) == 0);
  totals.origins.front().incarnation = 1;
  cluster.node(0).replicator->on_message(cluster.mono(), cluster.wall(), "n9", totals);
  CHECK(cluster.seen(0, key_of(1)) == 50);
}

TEST_CASE("owners: 'auto' keeps the full mesh in a small cluster") {
  Cluster cluster(4, Dissemination::automatic);
  cluster.run_ms(30);
  cluster.count(0, key_of(1), 2);
  cluster.run_ms(30);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    CHECK(cluster.node(i).replicator->stats().owners_mode == 0);
    CHECK(cluster.seen(i, key_of(1)) == 2);
    // Every node holds node 0's own slot, as the mesh sends it to all.
    CHECK(cluster.slots(i, key_of(1)) == 1);
  }
}

TEST_CASE(
    "owners: 'auto' uses owners from the documented member count, once every member reads "
    "totals") {
  const int members = static_cast<int>(drl::bounds::owners_from_members);
  Cluster small(members - 1, Dissemination::automatic);
  small.run_ms(30);
  CHECK(small.node(0).replicator->stats().owners_mode == 0);

  Cluster large(members, Dissemination::automatic);
  large.run_ms(30);
  for (std::size_t i = 0; i < large.size(); ++i) {
    CHECK(large.node(i).replicator->stats().owners_mode == 1);
  }

  Cluster upgrading(members, Dissemination::automatic, 5);
  upgrading.run_ms(30);
  upgrading.count(5, key_of(1), 4);  // the older node's count reaches everyone, as in the mesh
  upgrading.run_ms(30);
  for (std::size_t i = 0; i < upgrading.size(); ++i) {
    if (i != 5) CHECK(upgrading.node(i).replicator->stats().owners_mode == 0);
    CHECK(upgrading.seen(i, key_of(1)) == 4);
  }
}

namespace {

// The indices of `key`'s owners among nodes "n0" .. "n<count-1>", all live.
std::vector<std::size_t> owners_among(int count, std::uint64_t key) {
  std::vector<std::string> members;
  for (int i = 0; i < count; ++i) members.push_back("n" + std::to_string(i));
  KeyOwners ring;
  ring.assign(members);
  std::array<std::uint32_t, drl::bounds::owners_per_key> at{};
  const std::size_t found = ring.owners_of(key, at);
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < found; ++i) {
    out.push_back(static_cast<std::size_t>(std::stoul(ring.members()[at[i]].substr(1))));
  }
  return out;
}

// Every node counts `key` once; then a node that does not own it crashes and starts again (a
// new incarnation, an empty store). Returns its index.
std::size_t count_everywhere_and_restart_a_non_owner(Cluster& cluster, std::uint64_t key) {
  const std::vector<std::size_t> owners = owners_among(static_cast<int>(cluster.size()), key);
  std::size_t restarted = 0;
  while (std::find(owners.begin(), owners.end(), restarted) != owners.end()) ++restarted;
  for (std::size_t i = 0; i < cluster.size(); ++i) cluster.count(i, key, 1);
  cluster.run_ms(30);
  cluster.crash(restarted);
  cluster.run_ms(5);
  cluster.restart(restarted);
  return restarted;
}

}  // namespace

TEST_CASE(
    "owners: when a key's owner crashes, the counting nodes hear the total from the other one "
    "at once") {
  Cluster cluster(6, Dissemination::owners);
  cluster.run_ms(30);
  const std::uint64_t key = key_of(7);
  const std::vector<std::size_t> owners = owners_among(6, key);
  REQUIRE(owners.size() == 2);
  cluster.crash(owners[0]);
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (i != owners[0]) cluster.count(i, key, 2);
  }
  cluster.run_ms(20);  // far less than unreachable_after: the ring still has the crashed owner
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (i != owners[0]) CHECK(cluster.seen(i, key) == 10);
  }
}

TEST_CASE(
    "owners: a node that restarts gets the totals of keys it does not own in its full syncs, and "
    "has the cluster's counts only once every peer on its ring sent one") {
  Cluster cluster(6, Dissemination::owners);
  cluster.run_ms(30);
  const std::uint64_t key = key_of(3);
  const std::size_t restarted = count_everywhere_and_restart_a_non_owner(cluster, key);
  CHECK_FALSE(cluster.node(restarted).replicator->has_cluster_counts());
  cluster.run_ms(300);  // heartbeats, then a full sync from every peer
  CHECK(cluster.node(restarted).replicator->has_cluster_counts());
  // Its earlier life's count is another origin's now: all six.
  CHECK(cluster.seen(restarted, key) == 6);
}

TEST_CASE(
    "owners: in 'auto', a node that restarts into a cluster in owners mode holds its checks "
    "until every peer's full sync is in, though it starts in the mesh itself") {
  const int members = static_cast<int>(drl::bounds::owners_from_members);
  Cluster cluster(members, Dissemination::automatic);
  cluster.run_ms(30);
  REQUIRE(cluster.node(0).replicator->stats().owners_mode == 1);
  const std::uint64_t key = key_of(11);
  const std::size_t restarted = count_everywhere_and_restart_a_non_owner(cluster, key);
  for (int ms = 0; ms < 400 && !cluster.node(restarted).replicator->has_cluster_counts(); ++ms) {
    cluster.run_ms(1);
  }
  REQUIRE(cluster.node(restarted).replicator->has_cluster_counts());
  // Once it has them, it reads the key's total, which only the owners' totals carry to it.
  CHECK(cluster.seen(restarted, key) == static_cast<std::uint64_t>(members));
}

TEST_CASE("owners: 'auto' goes back to the mesh only a few members below where it left it") {
  const int members = static_cast<int>(drl::bounds::owners_from_members);
  Cluster cluster(members, Dissemination::automatic);
  cluster.run_ms(30);
  REQUIRE(cluster.node(0).replicator->stats().owners_mode == 1);
  // One member fewer than the threshold: still owners.
  cluster.crash(static_cast<std::size_t>(members - 1));
  cluster.run_ms(700);  // past unreachable_after: the ring has lost it
  CHECK(cluster.node(0).replicator->stats().owners_mode == 1);
  // Below owners_until_members: the mesh.
  for (int i = members - 2; i >= static_cast<int>(drl::bounds::owners_until_members) - 1; --i) {
    cluster.crash(static_cast<std::size_t>(i));
  }
  cluster.run_ms(700);
  CHECK(cluster.node(0).replicator->stats().owners_mode == 0);
}

TEST_CASE(
    "owners: a node that has not counted a key asks its owners, and hears the others' total, a "
    "zero included, one round trip later") {
  Cluster cluster(8, Dissemination::owners);
  cluster.run_ms(30);
  CHECK(cluster.node(0).totals.wait_ms() == drl::bounds::totals_wait_default_ms);
  const std::vector<std::uint64_t> keys = keys_not_owned_by_n0(cluster, 2);
  const std::uint64_t counted = keys[0];
  const std::uint64_t untouched = keys[1];
  for (std::size_t i = 1; i < cluster.size(); ++i) cluster.count(i, counted, 3);
  cluster.run_ms(30);
  // Node 0 hears no totals of a key it does not count: blind, and it knows it.
  CHECK_FALSE(cluster.heard(0, counted));
  CHECK(cluster.seen(0, counted) == 0);
  cluster.ask(0, counted);
  cluster.ask(0, untouched);
  const std::uint64_t answers = cluster.node(0).totals.answers();
  cluster.run_ms(3);  // there and back, 1 ms each
  CHECK(cluster.heard(0, counted));
  CHECK(cluster.seen(0, counted) == 21);
  CHECK(cluster.heard(0, untouched));  // nobody counted it: the owners said 0
  CHECK(cluster.seen(0, untouched) == 0);
  CHECK(cluster.node(0).totals.answers() > answers);
  CHECK(cluster.node(0).replicator->stats().totals_requests_sent == 4);  // 2 keys, 2 owners each
  std::uint64_t answered = 0;
  for (std::size_t i = 1; i < cluster.size(); ++i) {
    answered += cluster.node(i).replicator->stats().totals_requests_answered;
  }
  CHECK(answered == 4);
}

TEST_CASE("owners: a request for totals beyond the bound of those waiting shows in the stats") {
  Cluster cluster(4, Dissemination::owners);
  cluster.run_ms(30);
  TotalsRequests& requests = cluster.node(0).totals;
  REQUIRE(requests.wait_ms() > 0);
  const WallTime now = cluster.wall();
  for (std::uint64_t id = 1; id <= drl::bounds::totals_wants_max; ++id) {
    REQUIRE(requests.want(id, kWindowMs, now));
  }
  CHECK(cluster.node(0).replicator->stats().totals_requests_refused == 0);
  CHECK_FALSE(requests.want(drl::bounds::totals_wants_max + 1, kWindowMs, now));
  CHECK(cluster.node(0).replicator->stats().totals_requests_refused == 1);
}

TEST_CASE("owners: in the full mesh no check waits for totals") {
  Cluster cluster(4, Dissemination::mesh);
  cluster.run_ms(30);
  CHECK(cluster.node(0).totals.wait_ms() == 0);
}

TEST_CASE(
    "owners: an owner whose key has seen no count yet in the window that holds now answers a "
    "zero for it, and the window before as it counted it") {
  Cluster cluster(4, Dissemination::owners);
  cluster.run_ms(30);
  const std::uint64_t key = keys_not_owned_by_n0(cluster, 1).front();
  cluster.count(1, key, 3);
  cluster.run_ms(60'000);  // into the next minute: nobody counts the key there
  cluster.ask(0, key);
  cluster.run_ms(3);
  CHECK(cluster.heard(0, key));
  CHECK(cluster.seen(0, key) == 0);
  CHECK(cluster.seen_previous(0, key) == 3);
}

TEST_CASE(
    "owners: after a member goes silent, a node sends again its counts of the keys whose owners "
    "changed, and not of those whose owners stayed") {
  Cluster cluster(6, Dissemination::owners);
  cluster.run_ms(30);
  constexpr std::uint64_t kKeys = 60;
  for (std::uint64_t n = 0; n < kKeys; ++n) cluster.count(0, key_of(n), 1);
  cluster.run_ms(30);  // sent, twice, to each key's owners
  // The keys whose owners among the first `from` nodes are not those among the first `to`.
  const auto moved_between = [&](int from, int to) {
    std::set<std::uint64_t> moved;
    for (std::uint64_t n = 0; n < kKeys; ++n) {
      std::vector<std::size_t> before = owners_among(from, key_of(n));
      std::vector<std::size_t> after = owners_among(to, key_of(n));
      std::sort(before.begin(), before.end());
      std::sort(after.begin(), after.end());
      if (before != after) moved.insert(key_of(n));
    }
    return moved;
  };
  // The keys that had n5 as an owner get a new one once n5 is off the ring.
  const std::set<std::uint64_t> moved = moved_between(6, 5);
  REQUIRE(!moved.empty());
  REQUIRE(moved.size() < kKeys / 2);

  // The keys n0 sent counts of since `sent` was cleared: those in `moved`, and the others.
  const auto resent_by_n0 = [&](const std::set<std::uint64_t>& moved_keys) {
    std::pair<std::set<std::uint64_t>, std::set<std::uint64_t>> resent;
    for (const auto& [from, message] : cluster.sent) {
      if (from != 0 || message.type != MessageType::delta || !message.updates) continue;
      for (const WireUpdate& update : *message.updates) {
        if (update.count == 0) continue;
        (moved_keys.contains(update.counter_id) ? resent.first : resent.second)
            .insert(update.counter_id);
      }
    }
    return resent;
  };
  cluster.record_sent = true;
  cluster.crash(5);
  cluster.run_ms(530);  // past unreachable_after: the ring drops n5, and n0 resends
  const auto [resent, resent_unmoved] = resent_by_n0(moved);
  CHECK(resent == moved);
  CHECK(resent_unmoved.empty());

  // A second change once that pass is over: compared with the ring the first change left.
  const std::set<std::uint64_t> moved_again = moved_between(5, 4);
  REQUIRE(!moved_again.empty());
  cluster.sent.clear();
  cluster.crash(4);
  cluster.run_ms(530);
  const auto [resent_again, resent_unmoved_again] = resent_by_n0(moved_again);
  CHECK(resent_again == moved_again);
  CHECK(resent_unmoved_again.empty());
}

TEST_CASE(
    "owners: a node that stops cleanly leaves its counts with every live peer, so a key keeps "
    "them whoever owns it next, also when both its owners leave") {
  Cluster cluster(6, Dissemination::owners);
  cluster.run_ms(30);
  const std::uint64_t key = keys_not_owned_by_n0(cluster, 1).front();
  cluster.count(0, key, 7);
  cluster.run_ms(30);
  cluster.leave(0);
  cluster.run_ms(5);
  for (std::size_t i = 1; i < cluster.size(); ++i) {
    CAPTURE(i);
    CHECK(cluster.seen(i, key) == 7);
  }
}

TEST_CASE(
    "owners: when a key's owners go silent, every node sends its own counts again, so the key's "
    "new owners hold them though nobody counts it any more") {
  Cluster cluster(6, Dissemination::owners);
  cluster.run_ms(30);
  // A key that n0 does not own: its two owners crash, n0 and the others counted it before.
  const std::uint64_t key = keys_not_owned_by_n0(cluster, 1).front();
  const std::vector<std::size_t> crashed = owners_among(static_cast<int>(cluster.size()), key);
  REQUIRE(crashed.size() == 2);
  std::uint64_t survivors_counted = 0;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    cluster.count(i, key, 2);
    if (std::find(crashed.begin(), crashed.end(), i) == crashed.end()) survivors_counted += 2;
  }
  cluster.run_ms(30);
  for (std::size_t i : crashed) cluster.crash(i);
  // Past unreachable_after (500 ms) the ring drops them; a gossip round later the new owners
  // hold the counts (anti-entropy alone, one peer per 100 ms repair round, would take longer).
  cluster.run_ms(530);
  // The key's new owners, on the ring of the survivors, hold every surviving origin's slot (the
  // crashed nodes' own counts went with them, as in the mesh).
  std::vector<std::string> survivors;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (std::find(crashed.begin(), crashed.end(), i) == crashed.end()) {
      survivors.push_back(cluster.name(i));
    }
  }
  KeyOwners after;
  after.assign(survivors);
  std::array<std::uint32_t, drl::bounds::owners_per_key> new_owners{};
  REQUIRE(after.owners_of(key, new_owners) == 2);
  for (std::uint32_t member : new_owners) {
    const auto i = static_cast<std::size_t>(std::stoul(after.members()[member].substr(1)));
    CAPTURE(i);
    CHECK(cluster.slots(i, key) >= survivors.size());
    CHECK(cluster.seen(i, key) >= survivors_counted);
  }
}
