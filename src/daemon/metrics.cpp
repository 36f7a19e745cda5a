#include "daemon/metrics.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <array>
#include <map>
#include <sstream>
#include <stdexcept>

#include "daemon/rights_wait.hpp"
#include "daemon/service.hpp"
#include "daemon/startup_hold.hpp"
#include "daemon/state_keeper.hpp"
#ifdef DRL_WITH_ENVOY
#include "daemon/envoy_service.hpp"
#endif
#include "io/clock.hpp"
#include "wire/cluster_codec.hpp"

namespace drl::daemon {
namespace {

// Sized by its rows: adding one is a one-line change.
constexpr auto kMetrics = std::to_array<MetricSpec>({
    {"drl_build_info", MetricKind::gauge, "version", "Always 1; the version of drld."},
    {"drl_start_time_seconds", MetricKind::gauge, "",
     "When drld started, in seconds since the Unix epoch."},
    {"drl_checks_total", MetricKind::counter, "policy,decision",
     "Checks decided, by the binding limit's policy and decision: allowed, denied, or "
     "shadow_denied (allowed by a shadow-mode policy that would have denied)."},
    {"drl_check_errors_total", MetricKind::counter, "kind",
     "Requests or checks refused with an error, by error code (unknown_policy, malformed_request, "
     "...)."},
    {"drl_check_duration_seconds", MetricKind::histogram, "",
     "Time drld spent on one request, from its bytes to its answer (a batch is one request)."},
    {"drl_requests_total", MetricKind::counter, "transport",
     "Requests received, by transport: socket or http."},
    {"drl_checks_tier_unknown_total", MetricKind::counter, "",
     "Checks naming a tier their policy does not define (the defaults applied)."},
    {"drl_checks_denied_without_rights_total", MetricKind::counter, "",
     "Checks a hard limit denied for want of rights on this node while the cluster's counts had "
     "room: the false rejects of hard limits."},
    {"drl_rights_waits_total", MetricKind::counter, "outcome",
     "Checks of hard limits that waited for a grant (a policy's rights_wait_max), by outcome: "
     "admitted after the wait, denied when it ran out, or refused a wait (64 checks were "
     "waiting already: denied at once)."},
    {"drl_rights_wait_seconds_total", MetricKind::counter, "",
     "Time checks spent waiting for a grant, all together (divide by the waits for the mean)."},
    {"drl_totals_waits_total", MetricKind::counter, "outcome",
     "Through key owners, keys' first checks on this node that waited for their owners' totals "
     "([cluster] totals_wait_max), by outcome: answered (the totals came in time), timed_out "
     "(decided on what this node knew), refused (decided at once: half the workers were waiting "
     "for totals already, or 64 checks in all)."},
    {"drl_totals_wait_seconds_total", MetricKind::counter, "",
     "Time keys' first checks spent waiting for their owners' totals, all together."},
    {"drl_keys_tracked", MetricKind::gauge, "", "Counters held in the store now."},
    {"drl_keys_bound", MetricKind::gauge, "",
     "The most counters the store holds ([bounds] max_keys, in whole shards)."},
    {"drl_keys_evicted_total", MetricKind::counter, "",
     "Live counters dropped to make room for new ones."},
    {"drl_keys_evicted_while_denied_total", MetricKind::counter, "",
     "Evicted counters that had been denied in their window (should stay near 0)."},
    {"drl_keys_expired_total", MetricKind::counter, "",
     "Counters dropped because their windows were over."},
    {"drl_store_memory_bytes", MetricKind::gauge, "",
     "Memory of the store's tables, slot pools, change lists and floors of evicted counters."},
    {"drl_store_adds_dropped_total", MetricKind::counter, "",
     "Admitted counts not recorded: a shard full of keys under check (should stay 0)."},
    {"drl_store_origin_slots_exhausted_total", MetricKind::counter, "",
     "Peers' updates dropped: no slot left for another origin."},
    {"drl_store_floors_applied_total", MetricKind::counter, "",
     "Evicted counters counted again within their windows from the totals they had when evicted "
     "(their floor), not from zero."},
    {"drl_store_floors_lost_total", MetricKind::counter, "",
     "Floors of evicted counters pushed out by newer evictions while their windows still "
     "mattered: such a counter starts from zero if it comes back."},
    {"drl_config_reloads_total", MetricKind::counter, "result",
     "Configuration reloads, by result: ok or failed."},
    {"drl_config_generation", MetricKind::gauge, "",
     "The number of the configuration in force (1 for the first)."},
    {"drl_file_permission_warnings", MetricKind::gauge, "file",
     "Warnings of the last permission check (at start; config and key_file again at each "
     "reload), by what they are about: config (the config file or a directory above it that "
     "another user can write or owns), key_file (the same for a cluster key file, or one others "
     "can read), socket (a socket_mode that lets every local user connect, or a directory above "
     "the socket another user can write), state_dir (the state directory or one above it that "
     "another user can write). 0 when none."},
    {"drl_connections_open", MetricKind::gauge, "", "Client connections on the Unix socket now."},
    {"drl_connections_accepted_total", MetricKind::counter, "", "Client connections accepted."},
    {"drl_connections_rejected_total", MetricKind::counter, "reason",
     "Client connections refused, by reason: max_connections reached, or out_of_fds (the "
     "process is out of file descriptors)."},
    {"drl_frames_oversized_total", MetricKind::counter, "",
     "Frames above max_request_bytes (their connections were closed)."},
    {"drl_output_pauses_total", MetricKind::counter, "",
     "Times a connection stopped being read: its client did not read its answers."},
    {"drl_connections_timed_out_total", MetricKind::counter, "reason",
     "Client connections closed by a timeout: idle, frame (a request begun and not finished), "
     "stalled_output (answers not read)."},
    {"drl_http_responses_total", MetricKind::counter, "code",
     "HTTP answers, by status code (other codes as \"other\")."},
    {"drl_http_requests_refused_total", MetricKind::counter, "reason",
     "HTTP requests refused before any route saw them (answered 400, 413 or 431, connection "
     "closed), by reason: malformed, ambiguous_framing, bad_target, head_too_large, "
     "body_too_large."},
    {"drl_http_connections_open", MetricKind::gauge, "", "HTTP connections now."},
    {"drl_http_connections_accepted_total", MetricKind::counter, "", "HTTP connections accepted."},
    {"drl_http_connections_evicted_total", MetricKind::counter, "",
     "HTTP connections closed to make room for a new one ([http] max_connections reached): the "
     "one silent longest goes."},
    {"drl_http_connections_rejected_total", MetricKind::counter, "reason",
     "HTTP connections refused, by reason: out_of_fds (the process is out of file "
     "descriptors)."},
    {"drl_http_connections_timed_out_total", MetricKind::counter, "reason",
     "HTTP connections closed by a timeout: idle (idle_timeout between requests), request (a "
     "request not complete within request_timeout), stalled_output (answers not read)."},
    {"drl_envoy_calls_total", MetricKind::counter, "outcome",
     "Calls of Envoy's rate limit service ([envoy]), by outcome: answered, invalid_argument, "
     "malformed, unavailable, deadline_exceeded, internal."},
    {"drl_envoy_requests_total", MetricKind::counter, "domain,code",
     "RateLimitRequests answered, by domain ((unknown) for a domain no file defines, (other) "
     "beyond 1024 domains) and overall code: ok or over_limit."},
    {"drl_envoy_descriptors_total", MetricKind::counter, "domain,code",
     "Descriptors answered, by domain and what applied: ok, over_limit, shadow_over_limit (over "
     "its limit in shadow_mode, answered ok), unlimited, no_limit (matched nothing, or its limit "
     "was replaced by another's)."},
    {"drl_envoy_detailed_descriptors_total", MetricKind::counter, "domain,series,code",
     "Descriptors of detailed_metric rules, per value (at most 4096 series; then only in "
     "drl_envoy_descriptors_total)."},
    {"drl_envoy_request_errors_total", MetricKind::counter, "",
     "RateLimitRequests refused with an error: not a RateLimitRequest, beyond a bound, an "
     "override drl cannot count, more than 8 limited descriptors, no rules loaded (calls of "
     "outcome malformed, invalid_argument or unavailable)."},
    {"drl_envoy_limits", MetricKind::gauge, "",
     "Limited descriptors of the YAML files in force ([envoy] config_dir)."},
    {"drl_cluster_peers", MetricKind::gauge, "state",
     "Peers by state: alive, suspect, down, unknown, left (announced a clean stop)."},
    {"drl_cluster_reachable_ratio", MetricKind::gauge, "",
     "The share of the cluster this node can reach (1 when whole); the proportional partition "
     "policy scales limits by it."},
    {"drl_cluster_staleness_seconds", MetricKind::gauge, "",
     "How long ago the least recently heard live peer was heard."},
    {"drl_cluster_clock_offset_seconds", MetricKind::gauge, "peer",
     "Each live peer's wall clock minus ours, measured from heartbeats."},
    {"drl_cluster_clock_offset_max_seconds", MetricKind::gauge, "",
     "The largest absolute clock offset to a live peer."},
    {"drl_cluster_peer_rtt_seconds", MetricKind::gauge, "peer",
     "Round trip to each peer, measured from heartbeats."},
    {"drl_cluster_relay_total", MetricKind::counter, "event",
     "Around one-way cuts: sent (messages this node sent a peer through a relay, because that "
     "peer no longer answers what it sends straight), forwarded (datagrams it forwarded for a "
     "peer), refused (relay requests it refused: destination not a live peer of its own, or "
     "beyond 20,000 a second)."},
    {"drl_cluster_rights_total", MetricKind::counter, "event",
     "Rights of hard limits between nodes: requested (requests sent, one per counter and window "
     "at a time), "
     "granted (rights given to peers), received (rights granted by peers), stale (grants made to "
     "an earlier life of this node, dropped), refused (requests this node could not answer: it "
     "cannot tell what it counted there)."},
    {"drl_cluster_rights_members_agreed", MetricKind::gauge, "",
     "1 once this node takes its shares of hard limits (every other member named the same "
     "members; at once for a node alone), 0 while it waits for them."},
    {"drl_cluster_rights_members_mismatched_total", MetricKind::counter, "",
     "Heartbeats of configured peers that named other members than this node's (their [cluster] "
     "peers differ: a change of the members under way, or a mistake)."},
    {"drl_cluster_owners_mode", MetricKind::gauge, "",
     "1 while counts travel through key owners ([cluster] dissemination \"owners\", or \"auto\" "
     "in a cluster large enough), 0 in the full mesh."},
    {"drl_cluster_owner_share_ratio", MetricKind::gauge, "",
     "The share of keys this node is the first owner of (0 in the full mesh)."},
    {"drl_cluster_totals_total", MetricKind::counter, "event",
     "Owner dissemination: sent (totals messages this node sent as an owner of keys, to the "
     "nodes counting them and in full syncs), records (their records), received (totals "
     "messages received), "
     "stale (received for an earlier life of this node, dropped), dropped (keys not forwarded at "
     "once: the bound of keys waiting was reached), requested (keys this node asked their owners' "
     "totals of, for a key's first check: one per owner asked), answered (such requests this "
     "node answered as an owner), request_refused (requests not made, per check and limit: "
     "the bound of keys asked for within totals_wait_max was reached)."},
    {"drl_gossip_datagrams_sent_total", MetricKind::counter, "", "Cluster datagrams sent."},
    {"drl_gossip_bytes_sent_total", MetricKind::counter, "", "Bytes of cluster datagrams sent."},
    {"drl_gossip_datagrams_received_total", MetricKind::counter, "",
     "Cluster datagrams received, before checks."},
    {"drl_gossip_bytes_received_total", MetricKind::counter, "",
     "Bytes of cluster datagrams received."},
    {"drl_gossip_datagrams_dropped_total", MetricKind::counter, "reason",
     "Cluster datagrams dropped, by reason: truncated, bad_magic, unsupported_version, "
     "bad_checksum, unauthenticated, bad_mac, malformed, replayed."},
    {"drl_gossip_updates_total", MetricKind::counter, "direction",
     "Counter slot updates: sent, received, or dropped (stale windows, no room)."},
    {"drl_gossip_full_syncs_total", MetricKind::counter, "",
     "Full anti-entropy sweeps completed to peers (new, restarted or back from silence)."},
    {"drl_gossip_send_errors_total", MetricKind::counter, "",
     "Datagrams the UDP socket refused (dropped like losses)."},
    {"drl_gossip_datagrams_truncated_total", MetricKind::counter, "",
     "Datagrams received larger than the receive buffer (64 KiB), dropped."},
    {"drl_gossip_replay_windows_evicted_total", MetricKind::counter, "",
     "Senders' replay windows forgotten to make room for a new one: more senders, real or "
     "forged, than the node keeps windows for."},
    {"drl_gossip_override_records_left_out_total", MetricKind::counter, "",
     "Override records not sent: larger than a datagram, or outside a receiver's bounds."},
    {"drl_startup_hold_seconds", MetricKind::gauge, "",
     "How long this node held its answers after it started, waiting for a peer's counts "
     "([cluster] warmup_max); grows while it holds."},
    {"drl_startup_checks_held_total", MetricKind::counter, "",
     "Checks that waited for the start-up sync of counts."},
    {"drl_state_saves_total", MetricKind::counter, "result",
     "Saves of the counts to [node] state_dir, by result: written, unchanged (nothing to write), "
     "failed (the file on disk is older; see the log)."},
    {"drl_state_last_save_time_seconds", MetricKind::gauge, "",
     "When the counts were last written to [node] state_dir, in seconds since the Unix epoch "
     "(0: not yet)."},
    {"drl_state_save_duration_seconds", MetricKind::gauge, "",
     "How long the last written save took: copying the store, encoding, writing and fsync."},
    {"drl_state_file_bytes", MetricKind::gauge, "", "Size of the last written state file."},
    {"drl_state_restored_counts", MetricKind::gauge, "result",
     "Counts read back from [node] state_dir at start, by result: restored, ended (their "
     "windows were over), dropped (no room for their origin); and keys_evicted: keys, not "
     "counts, that did not fit in max_keys (smaller than the saver's) and were evicted."},
    {"drl_state_save_failing", MetricKind::gauge, "",
     "1 while the last save of the counts to [node] state_dir failed (the file on disk is as old "
     "as drl_state_last_save_time_seconds), else 0."},
    {"drl_state_files_refused_total", MetricKind::counter, "reason",
     "State files not read back at start, by reason: not_a_state_file, truncated, corrupt, "
     "newer_format, too_large, foreign (another node's), unreadable."},
    {"drl_cluster_origins", MetricKind::gauge, "",
     "Origins (node incarnations) known to the store."},
    {"drl_policies_epoch", MetricKind::gauge, "",
     "Moves every time the policies in force change: a reload, an override, an adaptive "
     "factor."},
    {"drl_overrides_active", MetricKind::gauge, "",
     "Runtime overrides in force on this node (docs/dynamic-limits.md)."},
    {"drl_override_events_total", MetricKind::counter, "event",
     "Override records (key resets included) by what happened: set and cleared here, key_reset "
     "here, merged from a peer (won), restored (read back from the state file at start), stale "
     "(a peer's that lost), refused (out of bounds or "
     "cannot apply, from a peer or here), expired, table_full (dropped: the table holds its most "
     "records)."},
    {"drl_adaptive_factor", MetricKind::gauge, "policy",
     "The load-adaptive factor in force per policy with [policy.adaptive]: 1, or down to its "
     "floor under load."},
    {"drl_load_loop_lag_seconds", MetricKind::gauge, "",
     "How late drld's main loop ran its 100 ms tick, last sample (load signal loop_lag_ms)."},
    {"drl_load_cpu_ratio", MetricKind::gauge, "",
     "The host's CPU busy share of all CPUs, 0 to 1, last sample (load signal cpu_percent)."},
    {"drl_load_reported_value", MetricKind::gauge, "name",
     "The latest value an application reported per signal name (load signal reported:NAME), "
     "in the application's unit."},
    {"drl_load_signal_reports_total", MetricKind::counter, "result",
     "Load signal reports from applications: recorded, or refused (a new name with 64 names "
     "held)."},
});

const MetricSpec& spec(std::string_view name) {
  for (const MetricSpec& metric : kMetrics) {
    if (metric.name == name) return metric;
  }
  throw std::logic_error("metric not in the table: " + std::string(name));
}

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricType type_of(MetricKind kind) {
  switch (kind) {
    case MetricKind::counter:
      return MetricType::Counter;
    case MetricKind::gauge:
      return MetricType::Gauge;
    case MetricKind::histogram:
      return MetricType::Histogram;
  }
  return MetricType::Untyped;
}

class Families {
 public:
  MetricFamily& family(std::string_view name) {
    const MetricSpec& metric = spec(name);
    auto it = families_.find(std::string(name));
    if (it == families_.end()) {
      MetricFamily family;
      family.name = std::string(metric.name);
      family.help = std::string(metric.help);
      family.type = type_of(metric.kind);
      it = families_.emplace(family.name, std::move(family)).first;
    }
    return it->second;
  }

  void value(std::string_view name, double value,
             std::initializer_list<std::pair<std::string, std::string>> labels = {}) {
    MetricFamily& f = family(name);
    ClientMetric metric;
    for (const auto& [label, label_value] : labels) metric.label.push_back({label, label_value});
    if (f.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    f.metric.push_back(std::move(metric));
  }

  std::vector<MetricFamily> take() {
    std::vector<MetricFamily> out;
    // In the table's order, so that the exposition is stable.
    for (const MetricSpec& metric : kMetrics) {
      const auto it = families_.find(std::string(metric.name));
      if (it != families_.end()) out.push_back(std::move(it->second));
    }
    return out;
  }

 private:
  std::map<std::string, MetricFamily> families_;
};

double load(const std::atomic<std::uint64_t>& counter) {
  return static_cast<double>(counter.load(std::memory_order_relaxed));
}

#ifdef DRL_WITH_ENVOY
void render_envoy(const EnvoyService& envoy, Families& f) {
  for (std::size_t i = 0; i < envoy::rls_call_outcome_count; ++i) {
    const auto outcome = static_cast<envoy::RlsCallOutcome>(i);
    f.value("drl_envoy_calls_total", static_cast<double>(envoy.calls()[outcome]),
            {{"outcome", std::string(envoy::rls_call_outcome_name(outcome))}});
  }
  const auto counts = [&f](const std::string& domain, const envoy::RlsCountsSample& c,
                           const std::string* series) {
    const auto d = static_cast<double>(c.descriptors_ok);
    if (series == nullptr) {
      f.value("drl_envoy_requests_total", static_cast<double>(c.requests_ok),
              {{"domain", domain}, {"code", "ok"}});
      f.value("drl_envoy_requests_total", static_cast<double>(c.requests_over_limit),
              {{"domain", domain}, {"code", "over_limit"}});
    }
    const std::pair<const char*, double> codes[] = {
        {"ok", d},
        {"over_limit", static_cast<double>(c.descriptors_over_limit)},
        {"shadow_over_limit", static_cast<double>(c.descriptors_shadow_over_limit)},
        {"unlimited", static_cast<double>(c.descriptors_unlimited)},
        {"no_limit", static_cast<double>(c.descriptors_no_limit)}};
    for (const auto& [code, value] : codes) {
      if (series == nullptr) {
        f.value("drl_envoy_descriptors_total", value, {{"domain", domain}, {"code", code}});
      } else {
        f.value("drl_envoy_detailed_descriptors_total", value,
                {{"domain", domain}, {"series", *series}, {"code", code}});
      }
    }
  };
  for (const envoy::RlsCounters::DomainSample& domain : envoy.counters().domains()) {
    counts(domain.domain, domain.counts, nullptr);
  }
  for (const envoy::RlsCounters::DetailedSample& detailed : envoy.counters().detailed()) {
    counts(detailed.domain, detailed.counts, &detailed.series);
  }
  f.value("drl_envoy_request_errors_total", static_cast<double>(envoy.calls().refused()));
  f.value("drl_envoy_limits", static_cast<double>(envoy.limits()));
}
#endif

}  // namespace

std::span<const MetricSpec> metric_table() {
  return kMetrics;
}

std::string render_metrics(const DaemonContext& c) {
  Families f;
  f.value("drl_build_info", 1, {{"version", c.version}});
  f.value("drl_start_time_seconds", static_cast<double>(c.started_wall_ms) / 1000.0);

  // Per-policy and global check counts: the sum over every worker's block and HTTP's.
  const std::vector<std::string> names = c.policy_ids.names();
  std::vector<std::array<double, 3>> per_policy(names.size(), {0, 0, 0});
  std::array<double, errc_count> errors{};
  std::array<double, latency_bounds_ns.size() + 1> buckets{};
  double latency_sum_ns = 0;
  double tier_unknown = 0;
  double without_rights = 0;
  double socket_requests = 0;
  double http_requests = 0;
  for (std::size_t b = 0; b < c.counters.size(); ++b) {
    const ServiceCounters& block = *c.counters[b];
    for (std::size_t id = 0; id < names.size(); ++id) {
      per_policy[id][0] += load(block.per_policy[id].allowed);
      per_policy[id][1] += load(block.per_policy[id].denied);
      per_policy[id][2] += load(block.per_policy[id].shadow_denied);
    }
    for (std::size_t e = 0; e < errc_count; ++e) errors[e] += load(block.errors[e]);
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += load(block.latency_buckets[i]);
    latency_sum_ns += load(block.latency_sum_ns);
    tier_unknown += load(block.checks_tier_unknown);
    without_rights += load(block.checks_denied_without_rights);
    (block.shared ? http_requests : socket_requests) += load(block.requests);
  }
  for (std::size_t id = 0; id < names.size(); ++id) {
    f.value("drl_checks_total", per_policy[id][0],
            {{"policy", names[id]}, {"decision", "allowed"}});
    f.value("drl_checks_total", per_policy[id][1], {{"policy", names[id]}, {"decision", "denied"}});
    f.value("drl_checks_total", per_policy[id][2],
            {{"policy", names[id]}, {"decision", "shadow_denied"}});
  }
  for (std::size_t e = 1; e < errc_count; ++e) {
    f.value("drl_check_errors_total", errors[e],
            {{"kind", std::string(errc_name(static_cast<Errc>(e)))}});
  }
  {
    MetricFamily& histogram = f.family("drl_check_duration_seconds");
    ClientMetric metric;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      cumulative += static_cast<std::uint64_t>(buckets[i]);
      const double bound = i < latency_bounds_ns.size()
                               ? static_cast<double>(latency_bounds_ns[i]) / 1e9
                               : std::numeric_limits<double>::infinity();
      metric.histogram.bucket.push_back({cumulative, bound});
    }
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = latency_sum_ns / 1e9;
    histogram.metric.push_back(std::move(metric));
  }
  f.value("drl_requests_total", socket_requests, {{"transport", "socket"}});
  f.value("drl_requests_total", http_requests, {{"transport", "http"}});
  f.value("drl_checks_tier_unknown_total", tier_unknown);
  f.value("drl_checks_denied_without_rights_total", without_rights);
  if (c.rights_wait != nullptr) {
    const core::RightsWaitStats waits = c.rights_wait->stats();
    f.value("drl_rights_waits_total", static_cast<double>(waits.waits_admitted),
            {{"outcome", "admitted"}});
    f.value("drl_rights_waits_total", static_cast<double>(waits.waits - waits.waits_admitted),
            {{"outcome", "denied"}});
    f.value("drl_rights_waits_total", static_cast<double>(waits.waits_refused),
            {{"outcome", "refused"}});
    f.value("drl_rights_wait_seconds_total", static_cast<double>(waits.wait_ns_total) / 1e9);
    f.value("drl_totals_waits_total", static_cast<double>(waits.totals_waits_answered),
            {{"outcome", "answered"}});
    f.value("drl_totals_waits_total", static_cast<double>(waits.totals_waits_timed_out),
            {{"outcome", "timed_out"}});
    f.value("drl_totals_waits_total", static_cast<double>(waits.totals_waits_refused),
            {{"outcome", "refused"}});
    f.value("drl_totals_wait_seconds_total", static_cast<double>(waits.totals_wait_ns_total) / 1e9);
  }

  const core::StoreStats store = c.store->stats();
  f.value("drl_keys_tracked", static_cast<double>(store.keys));
  f.value("drl_keys_bound", static_cast<double>(store.key_bound));
  f.value("drl_keys_evicted_total", static_cast<double>(store.evictions));
  f.value("drl_keys_evicted_while_denied_total", static_cast<double>(store.evictions_denied));
  f.value("drl_keys_expired_total", static_cast<double>(store.expirations));
  f.value("drl_store_memory_bytes", static_cast<double>(store.memory_bytes));
  f.value("drl_store_adds_dropped_total", static_cast<double>(store.adds_dropped));
  f.value("drl_store_origin_slots_exhausted_total",
          static_cast<double>(store.origin_slots_exhausted));
  f.value("drl_store_floors_applied_total", static_cast<double>(store.floors_applied));
  f.value("drl_store_floors_lost_total", static_cast<double>(store.floors_lost));
  f.value("drl_config_reloads_total", static_cast<double>(c.config->reloads()), {{"result", "ok"}});
  f.value("drl_config_reloads_total", static_cast<double>(c.config->reload_failures()),
          {{"result", "failed"}});
  f.value("drl_config_generation", static_cast<double>(c.config->generation()));
  const auto permission_warnings = c.config->permission_warnings();
  for (std::size_t i = 0; i < trusted_file_count; ++i) {
    f.value("drl_file_permission_warnings", static_cast<double>(permission_warnings[i]),
            {{"file", std::string(trusted_file_name(static_cast<TrustedFile>(i)))}});
  }
  f.value("drl_connections_open", load(c.server->connections_open));
  f.value("drl_connections_accepted_total", load(c.server->connections_accepted));
  f.value("drl_connections_rejected_total", load(c.server->connections_rejected),
          {{"reason", "max_connections"}});
  f.value("drl_connections_rejected_total", load(c.server->connections_rejected_no_fds),
          {{"reason", "out_of_fds"}});
  f.value("drl_frames_oversized_total", load(c.server->frames_oversized));
  f.value("drl_output_pauses_total", load(c.server->output_pauses));
  f.value("drl_connections_timed_out_total", load(c.server->timed_out_idle), {{"reason", "idle"}});
  f.value("drl_connections_timed_out_total", load(c.server->timed_out_frame),
          {{"reason", "frame"}});
  f.value("drl_connections_timed_out_total", load(c.server->timed_out_stalled_output),
          {{"reason", "stalled_output"}});
  if (c.http_counters != nullptr) {
    for (std::size_t i = 0; i < http::HttpCounters::codes.size(); ++i) {
      const int code = http::HttpCounters::codes[i];
      f.value("drl_http_responses_total", load(c.http_counters->by_code[i]),
              {{"code", code == 0 ? std::string("other") : std::to_string(code)}});
    }
    for (std::size_t i = 0; i < http::http_refusal_count; ++i) {
      f.value(
          "drl_http_requests_refused_total", load(c.http_counters->refused[i]),
          {{"reason", std::string(http::http_refusal_name(static_cast<http::HttpRefusal>(i)))}});
    }
  }
  if (c.http_connections != nullptr) {
    const io::ServerCounters& h = *c.http_connections;
    f.value("drl_http_connections_open", load(h.connections_open));
    f.value("drl_http_connections_accepted_total", load(h.connections_accepted));
    f.value("drl_http_connections_evicted_total", load(h.connections_evicted));
    f.value("drl_http_connections_rejected_total", load(h.connections_rejected_no_fds),
            {{"reason", "out_of_fds"}});
    f.value("drl_http_connections_timed_out_total", load(h.timed_out_idle), {{"reason", "idle"}});
    f.value("drl_http_connections_timed_out_total", load(h.timed_out_frame),
            {{"reason", "request"}});
    f.value("drl_http_connections_timed_out_total", load(h.timed_out_stalled_output),
            {{"reason", "stalled_output"}});
  }

#ifdef DRL_WITH_ENVOY
  if (c.envoy != nullptr) render_envoy(*c.envoy, f);
#endif

  if (c.cluster != nullptr) {
    const io::ClusterSnapshot s = c.cluster->snapshot();
    std::array<double, 5> states{};
    for (const core::PeerStatus& peer : s.peers) states[static_cast<std::size_t>(peer.state)] += 1;
    for (std::size_t i = 0; i < states.size(); ++i) {
      f.value("drl_cluster_peers", states[i],
              {{"state", std::string(core::peer_state_name(static_cast<core::PeerState>(i)))}});
    }
    f.value("drl_cluster_reachable_ratio", s.reachable_permille / 1000.0);
    f.value("drl_cluster_staleness_seconds", static_cast<double>(s.staleness_ms) / 1000.0);
    for (const core::PeerStatus& peer : s.peers) {
      if (peer.node_id.empty() || peer.rtt_us < 0) continue;
      f.value("drl_cluster_clock_offset_seconds",
              static_cast<double>(peer.clock_offset_ms) / 1000.0, {{"peer", peer.node_id}});
      f.value("drl_cluster_peer_rtt_seconds", static_cast<double>(peer.rtt_us) / 1e6,
              {{"peer", peer.node_id}});
    }
    f.value("drl_cluster_clock_offset_max_seconds",
            static_cast<double>(s.max_abs_clock_offset_ms) / 1000.0);
    f.value("drl_gossip_datagrams_sent_total", static_cast<double>(s.datagrams.sent));
    f.value("drl_gossip_bytes_sent_total", static_cast<double>(s.datagrams.sent_bytes));
    f.value("drl_gossip_datagrams_received_total", static_cast<double>(s.datagrams.received));
    f.value("drl_gossip_bytes_received_total", static_cast<double>(s.datagrams.received_bytes));
    for (std::size_t r = 0; r < s.datagrams.dropped.size(); ++r) {
      f.value("drl_gossip_datagrams_dropped_total", static_cast<double>(s.datagrams.dropped[r]),
              {{"reason", std::string(wire::drop_reason_name(static_cast<wire::DropReason>(r)))}});
    }
    f.value("drl_gossip_updates_total", static_cast<double>(s.replication.updates_sent),
            {{"direction", "sent"}});
    f.value("drl_gossip_updates_total", static_cast<double>(s.replication.updates_received),
            {{"direction", "received"}});
    f.value("drl_gossip_updates_total", static_cast<double>(s.replication.updates_dropped),
            {{"direction", "dropped"}});
    f.value("drl_gossip_full_syncs_total", static_cast<double>(s.replication.full_syncs_completed));
    f.value("drl_gossip_send_errors_total", static_cast<double>(s.udp.send_errors));
    f.value("drl_gossip_datagrams_truncated_total", static_cast<double>(s.udp.truncated));
    f.value("drl_gossip_replay_windows_evicted_total",
            static_cast<double>(s.datagrams.replay_windows_evicted));
    f.value("drl_gossip_override_records_left_out_total",
            static_cast<double>(s.datagrams.overrides_left_out));
    f.value("drl_cluster_relay_total", static_cast<double>(s.replication.relayed_messages_sent),
            {{"event", "sent"}});
    f.value("drl_cluster_relay_total", static_cast<double>(s.replication.relay_datagrams_forwarded),
            {{"event", "forwarded"}});
    f.value("drl_cluster_relay_total", static_cast<double>(s.replication.relay_datagrams_refused),
            {{"event", "refused"}});
    const std::pair<const char*, std::uint64_t> rights[] = {
        {"requested", s.replication.rights_requests_sent},
        {"granted", s.replication.rights_granted},
        {"received", s.replication.rights_received},
        {"stale", s.replication.rights_grants_stale},
        {"refused", s.replication.rights_requests_refused}};
    for (const auto& [event, count] : rights) {
      f.value("drl_cluster_rights_total", static_cast<double>(count), {{"event", event}});
    }
    f.value("drl_cluster_rights_members_agreed",
            static_cast<double>(s.replication.rights_members_agreed));
    f.value("drl_cluster_rights_members_mismatched_total",
            static_cast<double>(s.replication.rights_members_mismatched));
    f.value("drl_cluster_owners_mode", static_cast<double>(s.replication.owners_mode));
    f.value("drl_cluster_owner_share_ratio",
            static_cast<double>(s.replication.owner_share_permille) / 1000.0);
    const std::pair<const char*, std::uint64_t> totals[] = {
        {"sent", s.replication.totals_messages_sent},
        {"records", s.replication.totals_records_sent},
        {"received", s.replication.totals_messages_received},
        {"stale", s.replication.totals_stale},
        {"requested", s.replication.totals_requests_sent},
        {"answered", s.replication.totals_requests_answered},
        {"request_refused", s.replication.totals_requests_refused},
        {"dropped", s.replication.owner_forwards_dropped}};
    for (const auto& [event, count] : totals) {
      f.value("drl_cluster_totals_total", static_cast<double>(count), {{"event", event}});
    }
    f.value("drl_cluster_origins", static_cast<double>(s.origins));
    if (c.startup_hold != nullptr) {
      f.value("drl_startup_hold_seconds",
              static_cast<double>(c.startup_hold->held_ms(io::mono_now())) / 1000.0);
      f.value("drl_startup_checks_held_total", static_cast<double>(c.startup_hold->checks_held()));
    }
  }

  if (c.state != nullptr) {
    const StateCounters& state = c.state->counters();
    f.value("drl_state_saves_total", load(state.saves_written), {{"result", "written"}});
    f.value("drl_state_saves_total", load(state.saves_unchanged), {{"result", "unchanged"}});
    f.value("drl_state_saves_total", load(state.saves_failed), {{"result", "failed"}});
    f.value("drl_state_last_save_time_seconds",
            static_cast<double>(state.last_save_unix_ms.load(std::memory_order_relaxed)) / 1000.0);
    f.value("drl_state_save_duration_seconds", load(state.last_save_us) / 1e6);
    f.value("drl_state_file_bytes", load(state.last_save_bytes));
    f.value("drl_state_restored_counts", load(state.restored), {{"result", "restored"}});
    f.value("drl_state_restored_counts", load(state.restored_ended), {{"result", "ended"}});
    f.value("drl_state_restored_counts", load(state.restored_dropped), {{"result", "dropped"}});
    f.value("drl_state_restored_counts", load(state.restored_keys_evicted),
            {{"result", "keys_evicted"}});
    f.value("drl_state_save_failing", state.save_failing.load(std::memory_order_relaxed) ? 1 : 0);
    for (std::size_t i = 0; i < state.refused.size(); ++i) {
      f.value(
          "drl_state_files_refused_total", load(state.refused[i]),
          {{"reason",
            std::string(wire::state_file_problem_name(static_cast<wire::StateFileProblem>(i)))}});
    }
  }

  const core::WallTime wall = io::wall_now();
  const core::OverrideStats table = c.dynamic->table().stats();
  const DynamicStats dynamic = c.dynamic->stats();
  f.value("drl_policies_epoch", static_cast<double>(c.dynamic->epoch()));
  f.value("drl_overrides_active", static_cast<double>(c.dynamic->active(wall).size()));
  const std::pair<const char*, std::uint64_t> events[] = {
      {"set", dynamic.overrides_set},
      {"cleared", dynamic.overrides_cleared},
      {"key_reset", dynamic.key_resets},
      {"merged", table.merged},
      {"restored", table.restored},
      {"stale", table.stale},
      {"refused", table.refused + dynamic.overrides_refused + dynamic.key_resets_refused},
      {"expired", table.expired},
      {"table_full", table.table_full},
  };
  for (const auto& [event, count] : events) {
    f.value("drl_override_events_total", static_cast<double>(count), {{"event", event}});
  }
  for (const AdaptiveState& state : c.dynamic->adaptive()) {
    f.value("drl_adaptive_factor", state.factor_permille / 1000.0, {{"policy", state.policy}});
  }
  // Each measured signal in its base unit; reported ones keep the unit their application chose.
  for (const SignalValue& signal : c.dynamic->signals(io::mono_now())) {
    if (signal.name == core::signal_loop_lag_ms) {
      f.value("drl_load_loop_lag_seconds", signal.value / 1000.0);
    } else if (signal.name == core::signal_cpu_percent) {
      f.value("drl_load_cpu_ratio", signal.value / 100.0);
    } else if (signal.name.starts_with(core::signal_reported_prefix)) {
      f.value("drl_load_reported_value", signal.value,
              {{"name", signal.name.substr(core::signal_reported_prefix.size())}});
    }
  }
  f.value("drl_load_signal_reports_total", static_cast<double>(dynamic.reports),
          {{"result", "recorded"}});
  f.value("drl_load_signal_reports_total", static_cast<double>(dynamic.reports_refused),
          {{"result", "refused"}});

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, f.take());
  return out.str();
}

std::string metric_table_markdown() {
  std::string out = "| metric | type | labels | meaning |\n|---|---|---|---|\n";
  for (const MetricSpec& metric : kMetrics) {
    const char* kind = metric.kind == MetricKind::counter ? "counter"
                       : metric.kind == MetricKind::gauge ? "gauge"
                                                          : "histogram";
    out += "| `" + std::string(metric.name) + "` | " + kind + " | " +
           (metric.labels.empty() ? std::string("") : "`" + std::string(metric.labels) + "`") +
           " | " + std::string(metric.help) + " |\n";
  }
  return out;
}

}  // namespace drl::daemon
