#include "sim/sim_node.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "config/replication_settings.hpp"
#include "sim/signal_schedule.hpp"

namespace drl::sim {

std::string node_address(int index) {
  return "n" + std::to_string(index) + ":7000";
}

wire::CodecOptions codec_options(const Scenario& scenario) {
  wire::CodecOptions codec;
  codec.datagram_bytes_max = scenario.cluster.datagram_bytes;
  if (scenario.authenticated) {
    wire::ClusterKey key;
    key.fill(0x5a);
    codec.keys.push_back(key);
  }
  return codec;
}

std::vector<BrokenKind> broken_kinds(const Scenario& scenario, int node) {
  std::vector<BrokenKind> kinds;
  for (const BrokenNode& broken : scenario.broken_nodes) {
    if (broken.node == node) kinds.push_back(broken.kind);
  }
  return kinds;
}

SimNode::SimNode(int index, const Scenario& scenario, std::int64_t started_ns, double offset_ms,
                 double drift_ppm)
    : index_(index),
      id_("n" + std::to_string(index)),
      // As drld does: the wall clock in microseconds when the node starts.
      incarnation_(static_cast<std::uint64_t>(kEpochUnixMs) * 1000 +
                   static_cast<std::uint64_t>(std::max<std::int64_t>(0, started_ns / 1000)) + 1),
      drift_(drift_ppm / 1e6),
      offset_ms_(offset_ms),
      warmup_(mono(started_ns), static_cast<std::int64_t>(scenario.cluster.warmup_max_ms)),
      store_(core::StoreOptions{
          scenario.max_keys, std::min<std::size_t>(16, std::bit_floor(scenario.max_keys)), true}),
      origins_(core::Origin{id_, incarnation_}, scenario.cluster.max_origins),
      engine_(store_, core::OriginTable::local_index, &signals_) {
  signals_.proportional.store(scenario.cluster.partition_policy ==
                              core::PartitionPolicy::proportional);
  const config::ClusterSettings& c = scenario.cluster;
  core::ReplicationConfig config = config::replication_config_of(c);
  config.node_id = id_;
  config.incarnation = incarnation_;
  config.address = node_address(index);
  for (int peer : members_of(scenario, index, static_cast<double>(started_ns) / 1e9)) {
    config.seeds.push_back(node_address(peer));
  }
  // As drld's: the configured members, no rights in windows that begin before this life's start
  // plus the clock skew allowed, and none until every other member named the same members.
  const std::int64_t rights_from_ms =
      wall(started_ns).unix_ms + static_cast<std::int64_t>(c.clock_skew_max_ms);
  rights_.set_split(core::rights_split_of(config.address, config.seeds, 0, rights_from_ms));
  const std::vector<BrokenKind> broken = broken_kinds(scenario, index);
  const auto is_broken = [&](BrokenKind kind) {
    return std::find(broken.begin(), broken.end(), kind) != broken.end();
  };
  if (is_broken(BrokenKind::hard_alone)) {
    // Every right, while it names the members the others name (or they would not take theirs).
    rights_.set_split(core::RightsSplit{1, 0, rights_from_ms, rights_.split().members_digest});
  } else if (rights_.split().members > 1 && !is_broken(BrokenKind::hard_unagreed)) {
    rights_.await_members(static_cast<std::int64_t>(c.clock_skew_max_ms));
  }
  engine_.set_rights(&rights_);
  engine_.set_totals_requests(&totals_requests_);
  // A simulated cluster may be larger than the default bound; every member must fit.
  config.peers_max =
      std::max<std::size_t>(config.peers_max, static_cast<std::size_t>(scenario.nodes));
  limits_ = std::make_unique<core::LimitsInForce>(id_, scenario.policies);
  cluster_ = std::make_unique<wire::ClusterNode>(config, codec_options(scenario), store_, origins_);
  cluster_->replicator().set_overrides(&limits_->table());
  cluster_->replicator().set_rights(&rights_);
  cluster_->replicator().set_totals_requests(&totals_requests_);
}

void SimNode::sample_load(std::int64_t true_ns,
                          const std::function<std::optional<double>(std::string_view)>& signal) {
  limits_->sample(mono(true_ns),
                  [&](const core::AdaptiveLaw& law) { return signal(reported_name(law.signal)); });
}

bool SimNode::refresh_policies(std::int64_t true_ns) {
  return limits_->refresh(wall(true_ns));
}

bool SimNode::holds_checks(std::int64_t true_ns) {
  const core::MonoTime now = mono(true_ns);
  // Asked once per check until it holds (through owners it walks the peers).
  if (!warmup_.has_synced() && cluster_->replicator().has_cluster_counts()) warmup_.synced(now);
  return warmup_.holds(now);
}

core::MonoTime SimNode::mono(std::int64_t true_ns) const {
  return core::MonoTime{
      true_ns + static_cast<std::int64_t>(std::llround(static_cast<double>(true_ns) * drift_))};
}

core::WallTime SimNode::wall(std::int64_t true_ns) const {
  const double local_ms = (static_cast<double>(true_ns) * (1.0 + drift_)) / 1e6 + offset_ms_;
  return core::WallTime{kEpochUnixMs + static_cast<std::int64_t>(std::floor(local_ms))};
}

std::int64_t SimNode::true_time_of(core::MonoTime deadline) const {
  std::int64_t t =
      static_cast<std::int64_t>(std::ceil(static_cast<double>(deadline.ns) / (1.0 + drift_)));
  while (mono(t) < deadline) ++t;
  return t;
}

}  // namespace drl::sim
