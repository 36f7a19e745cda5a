#include "daemon/status_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "daemon/rights_wait.hpp"
#include "daemon/service.hpp"
#include "daemon/state_keeper.hpp"
#ifdef DRL_WITH_ENVOY
#include "daemon/envoy_service.hpp"
#endif
#include "io/clock.hpp"

namespace drl::daemon {
namespace {

// Picks the variant's alternative: a size_t or a narrower unsigned would not choose one alone.
std::uint64_t u(std::uint64_t value) {
  return value;
}
std::int64_t i64(std::int64_t value) {
  return value;
}

// Every node's fields: the node, its config and store, the socket's connections and the checks.
wire::StatusFields node_fields(const DaemonContext& context) {
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t shadow_denied = 0;
  std::uint64_t tier_unknown = 0;
  std::uint64_t without_rights = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  for (const auto& worker : context.counters) {
    allowed += worker->checks_allowed.load(std::memory_order_relaxed);
    denied += worker->checks_denied.load(std::memory_order_relaxed);
    shadow_denied += worker->checks_shadow_denied.load(std::memory_order_relaxed);
    tier_unknown += worker->checks_tier_unknown.load(std::memory_order_relaxed);
    without_rights += worker->checks_denied_without_rights.load(std::memory_order_relaxed);
    requests += worker->requests.load(std::memory_order_relaxed);
    for (const auto& count : worker->errors) errors += count.load(std::memory_order_relaxed);
  }
  const core::RightsWaitStats waits =
      context.rights_wait != nullptr ? context.rights_wait->stats() : core::RightsWaitStats{};
  const core::StoreStats store_stats = context.store->stats();
  const auto policies = context.dynamic->policies();
  const std::int64_t uptime_ms = (io::mono_now().ns - context.started.ns) / 1'000'000;
  std::uint64_t permission_warnings = 0;
  for (const std::uint64_t count : context.config->permission_warnings()) {
    permission_warnings += count;
  }
  const ConfigManager& config = *context.config;
  const io::ServerCounters& server = *context.server;
  return wire::StatusFields{
      {"node_id", context.node_id},
      {"incarnation", u(context.incarnation)},
      {"version", context.version},
      {"pid", u(static_cast<std::uint64_t>(::getpid()))},
      {"uptime_ms", u(static_cast<std::uint64_t>(uptime_ms))},
      {"config_path", config.path().value_or("(embedded default)")},
      {"config_generation", u(config.generation())},
      {"config_reloads", u(config.reloads())},
      {"config_reload_failures", u(config.reload_failures())},
      {"file_permission_warnings", u(permission_warnings)},
      {"policies", u(policies->policies().size())},
      {"workers", u(context.workers)},
      {"keys_tracked", u(store_stats.keys)},
      {"key_bound", u(store_stats.key_bound)},
      {"store_memory_bytes", u(store_stats.memory_bytes)},
      {"keys_evicted", u(store_stats.evictions)},
      {"keys_evicted_while_denied", u(store_stats.evictions_denied)},
      {"keys_expired", u(store_stats.expirations)},
      {"adds_dropped", u(store_stats.adds_dropped)},
      {"origin_slots_exhausted", u(store_stats.origin_slots_exhausted)},
      {"merges_stale", u(store_stats.merges_stale)},
      {"changes_unlisted", u(store_stats.changes_unlisted)},
      {"floors_applied", u(store_stats.floors_applied)},
      {"floors_lost", u(store_stats.floors_lost)},
      {"connections_open", u(server.connections_open.load(std::memory_order_relaxed))},
      {"connections_accepted", u(server.connections_accepted.load(std::memory_order_relaxed))},
      {"connections_rejected", u(server.connections_rejected.load(std::memory_order_relaxed))},
      {"connections_rejected_no_fds",
       u(server.connections_rejected_no_fds.load(std::memory_order_relaxed))},
      {"frames", u(server.frames.load(std::memory_order_relaxed))},
      {"frames_oversized", u(server.frames_oversized.load(std::memory_order_relaxed))},
      {"read_errors", u(server.read_errors.load(std::memory_order_relaxed))},
      {"output_pauses", u(server.output_pauses.load(std::memory_order_relaxed))},
      {"connections_timed_out_idle", u(server.timed_out_idle.load(std::memory_order_relaxed))},
      {"connections_timed_out_frame", u(server.timed_out_frame.load(std::memory_order_relaxed))},
      {"connections_timed_out_stalled_output",
       u(server.timed_out_stalled_output.load(std::memory_order_relaxed))},
      {"requests", u(requests)},
      {"checks_allowed", u(allowed)},
      {"checks_denied", u(denied)},
      {"checks_shadow_denied", u(shadow_denied)},
      {"checks_tier_unknown", u(tier_unknown)},
      {"checks_denied_without_rights", u(without_rights)},
      {"rights_waits", u(waits.waits)},
      {"rights_waits_admitted", u(waits.waits_admitted)},
      {"rights_waits_refused", u(waits.waits_refused)},
      {"rights_wait_us", u(waits.wait_ns_total / 1000)},
      {"totals_waits", u(waits.totals_waits)},
      {"totals_waits_answered", u(waits.totals_waits_answered)},
      {"totals_waits_refused", u(waits.totals_waits_refused)},
      {"totals_waits_timed_out", u(waits.totals_waits_timed_out)},
      {"totals_wait_us", u(waits.totals_wait_ns_total / 1000)},
      {"errors", u(errors)},
  };
}

// With [http]: the HTTP endpoint's connections and refusals.
void append_http_fields(const DaemonContext& context, wire::StatusFields& fields) {
  if (context.http_connections == nullptr || context.http_counters == nullptr) return;
  const io::ServerCounters& h = *context.http_connections;
  std::uint64_t refused = 0;
  for (const auto& count : context.http_counters->refused) {
    refused += count.load(std::memory_order_relaxed);
  }
  fields.push_back(
      {"http_connections_open", u(h.connections_open.load(std::memory_order_relaxed))});
  fields.push_back(
      {"http_connections_accepted", u(h.connections_accepted.load(std::memory_order_relaxed))});
  fields.push_back(
      {"http_connections_evicted", u(h.connections_evicted.load(std::memory_order_relaxed))});
  fields.push_back(
      {"http_connections_timed_out_idle", u(h.timed_out_idle.load(std::memory_order_relaxed))});
  fields.push_back(
      {"http_connections_timed_out_request", u(h.timed_out_frame.load(std::memory_order_relaxed))});
  fields.push_back({"http_connections_timed_out_stalled_output",
                    u(h.timed_out_stalled_output.load(std::memory_order_relaxed))});
  fields.push_back({"http_requests_refused", u(refused)});
}

// With [node] state_dir: where the counts are saved, and whether saving works.
void append_state_fields(const DaemonContext& context, wire::StatusFields& fields) {
  if (context.state == nullptr) return;
  const StateCounters& state = context.state->counters();
  fields.push_back({"state_file", context.state->file_path()});
  fields.push_back(
      {"state_last_save_unix_ms", i64(state.last_save_unix_ms.load(std::memory_order_relaxed))});
  fields.push_back({"state_save_failing", state.save_failing.load(std::memory_order_relaxed)});
  fields.push_back({"state_restored_counts", u(state.restored.load(std::memory_order_relaxed))});
}

#ifdef DRL_WITH_ENVOY
// With [envoy]: Envoy's rate limit service, its requests summed over the domains.
void append_envoy_fields(const DaemonContext& context, wire::StatusFields& fields) {
  if (context.envoy == nullptr) return;
  const EnvoyService& envoy = *context.envoy;
  std::uint64_t over_limit = 0;
  std::uint64_t answered = 0;
  for (const envoy::RlsCounters::DomainSample& domain : envoy.counters().domains()) {
    over_limit += domain.counts.requests_over_limit;
    answered += domain.counts.requests_ok + domain.counts.requests_over_limit;
  }
  fields.push_back({"envoy_listen", envoy.address()});
  fields.push_back({"envoy_domains", u(envoy.domains())});
  fields.push_back({"envoy_limits", u(envoy.limits())});
  fields.push_back({"envoy_requests", u(answered)});
  fields.push_back({"envoy_requests_over_limit", u(over_limit)});
  fields.push_back({"envoy_request_errors", u(envoy.calls().refused())});
}
#endif

// "cluster": "single node"; or "on" with [cluster], then the replication's counters and a table
// of the peers.
void append_cluster_fields(const DaemonContext& context, wire::StatusFields& fields) {
  if (context.cluster == nullptr) {
    fields.push_back({"cluster", std::string("single node")});
    return;
  }
  const io::ClusterSnapshot snapshot = context.cluster->snapshot();
  const std::uint64_t threshold =
      context.skew_threshold_ms != nullptr ? context.skew_threshold_ms->load() : 0;
  std::uint64_t dropped = 0;
  for (std::uint64_t count : snapshot.datagrams.dropped) dropped += count;
  fields.push_back({"cluster", std::string("on")});
  fields.push_back({"cluster_bind", snapshot.bind_address});
  fields.push_back({"cluster_authenticated", context.cluster_authenticated});
  fields.push_back({"partition_policy", std::string(core::partition_policy_name(
                                            context.config->current().cluster.partition_policy))});
  const core::Dissemination dissemination = context.config->current().cluster.dissemination;
  fields.push_back({"dissemination", std::string(core::dissemination_name(dissemination))});
  // What the mode is now: "auto" is the mesh or owners by the member count.
  fields.push_back({"dissemination_now",
                    std::string(snapshot.replication.owners_mode != 0 ? "owners" : "mesh")});
  fields.push_back({"owner_share_permille", u(snapshot.replication.owner_share_permille)});
  fields.push_back({"reachable_permille", u(snapshot.reachable_permille)});
  fields.push_back({"staleness_ms", i64(snapshot.staleness_ms)});
  fields.push_back({"max_clock_offset_ms", i64(snapshot.max_abs_clock_offset_ms)});
  fields.push_back(
      {"clock_skew_warning",
       threshold > 0 && static_cast<std::uint64_t>(snapshot.max_abs_clock_offset_ms) > threshold});
  fields.push_back({"origins", u(snapshot.origins)});
  fields.push_back({"origins_full_drops", u(snapshot.origins_full_drops)});
  fields.push_back({"peers_rejected", u(snapshot.replication.peers_rejected)});
  fields.push_back({"peers_joined", u(snapshot.replication.peers_joined)});
  fields.push_back({"peers_restarted", u(snapshot.replication.peers_restarted)});
  fields.push_back({"peers_moved", u(snapshot.replication.peers_moved)});
  fields.push_back({"peers_left", u(snapshot.replication.peers_left)});
  fields.push_back({"seed_addresses_added", u(snapshot.replication.seed_addresses_added)});
  fields.push_back({"messages_after_leave", u(snapshot.replication.messages_after_leave)});
  fields.push_back({"aliases_refused", u(snapshot.replication.aliases_refused)});
  fields.push_back({"messages_from_self", u(snapshot.replication.messages_from_self)});
  fields.push_back(
      {"messages_from_second_address", u(snapshot.replication.messages_from_second_address)});
  fields.push_back({"datagrams_sent", u(snapshot.datagrams.sent)});
  fields.push_back({"datagram_bytes_sent", u(snapshot.datagrams.sent_bytes)});
  fields.push_back({"datagrams_received", u(snapshot.datagrams.received)});
  fields.push_back({"datagram_bytes_received", u(snapshot.datagrams.received_bytes)});
  fields.push_back({"datagrams_dropped", u(dropped)});
  for (std::size_t reason = 0; reason < snapshot.datagrams.dropped.size(); ++reason) {
    fields.push_back({"datagrams_dropped_" + std::string(wire::drop_reason_name(
                                                 static_cast<wire::DropReason>(reason))),
                      u(snapshot.datagrams.dropped[reason])});
  }
  fields.push_back({"updates_sent", u(snapshot.replication.updates_sent)});
  fields.push_back({"updates_received", u(snapshot.replication.updates_received)});
  fields.push_back({"updates_dropped", u(snapshot.replication.updates_dropped)});
  fields.push_back({"full_syncs_completed", u(snapshot.replication.full_syncs_completed)});
  fields.push_back({"relayed_messages_sent", u(snapshot.replication.relayed_messages_sent)});
  fields.push_back(
      {"relay_datagrams_forwarded", u(snapshot.replication.relay_datagrams_forwarded)});
  fields.push_back({"relay_datagrams_refused", u(snapshot.replication.relay_datagrams_refused)});
  fields.push_back({"totals_messages_sent", u(snapshot.replication.totals_messages_sent)});
  fields.push_back({"totals_records_sent", u(snapshot.replication.totals_records_sent)});
  fields.push_back({"totals_messages_received", u(snapshot.replication.totals_messages_received)});
  fields.push_back({"totals_stale", u(snapshot.replication.totals_stale)});
  fields.push_back({"totals_requests_sent", u(snapshot.replication.totals_requests_sent)});
  fields.push_back({"totals_requests_answered", u(snapshot.replication.totals_requests_answered)});
  fields.push_back({"totals_requests_refused", u(snapshot.replication.totals_requests_refused)});
  fields.push_back({"owner_forwards_dropped", u(snapshot.replication.owner_forwards_dropped)});
  fields.push_back({"rights_requests_sent", u(snapshot.replication.rights_requests_sent)});
  fields.push_back({"rights_granted", u(snapshot.replication.rights_granted)});
  fields.push_back({"rights_received", u(snapshot.replication.rights_received)});
  fields.push_back({"rights_grants_stale", u(snapshot.replication.rights_grants_stale)});
  fields.push_back({"rights_requests_refused", u(snapshot.replication.rights_requests_refused)});
  fields.push_back({"rights_members_agreed", u(snapshot.replication.rights_members_agreed)});
  fields.push_back(
      {"rights_members_mismatched", u(snapshot.replication.rights_members_mismatched)});
  fields.push_back({"send_errors", u(snapshot.udp.send_errors)});
  fields.push_back({"resolve_errors", u(snapshot.udp.resolve_errors)});
  fields.push_back({"receive_errors", u(snapshot.udp.receive_errors)});
  fields.push_back({"datagrams_truncated", u(snapshot.udp.truncated)});
  std::vector<wire::StatusRecord> peers;
  for (const core::PeerStatus& peer : snapshot.peers) {
    peers.push_back(wire::StatusRecord{
        {"node", peer.node_id.empty() ? std::string("?") : peer.node_id},
        {"address", peer.address},
        {"state", std::string(core::peer_state_name(peer.state))},
        {"incarnation", u(peer.incarnation)},
        {"last_heard_ms", i64(peer.last_heard_ms_ago)},
        {"rtt_us", i64(peer.rtt_us)},
        {"clock_offset_ms", i64(peer.clock_offset_ms)},
        {"syncing", peer.syncing},
        {"synced", peer.synced},
        {"hears_us", peer.hears_us},
        {"via", peer.via.empty() ? std::string("-") : peer.via},
        {"datagrams_sent", u(peer.datagrams_sent)},
        {"bytes_sent", u(peer.bytes_sent)},
        {"datagrams_received", u(peer.datagrams_received)},
        {"bytes_received", u(peer.bytes_received)},
    });
  }
  fields.push_back({"peers", std::move(peers)});
}

// Overrides and adaptive factors: the last fields of every status answer, single node or not.
void append_dynamic_fields(const DaemonContext& context, wire::StatusFields& fields) {
  const DynamicLimits& dynamic = *context.dynamic;
  const core::WallTime now = io::wall_now();
  const std::vector<core::OverrideRecord> active = dynamic.active(now);
  const core::OverrideStats table = dynamic.table().stats();
  fields.push_back({"policies_epoch", u(dynamic.epoch())});
  fields.push_back({"overrides_active", u(active.size())});
  fields.push_back({"overrides_merged", u(table.merged)});
  fields.push_back({"overrides_expired", u(table.expired)});
  std::uint64_t unmatched = 0;
  for (const core::OverrideRecord& record : active) {
    unmatched += dynamic.applies_here(record.scope) ? 0 : 1;
  }
  fields.push_back({"overrides_unmatched", u(unmatched)});
  std::vector<wire::StatusRecord> overrides;
  for (const core::OverrideRecord& record : active) {
    overrides.push_back(wire::StatusRecord{
        {"policy", record.scope.policy},
        {"tier", record.scope.tier.empty() ? std::string("*") : record.scope.tier},
        {"endpoint", record.scope.endpoint.empty() ? std::string("*") : record.scope.endpoint},
        {"window", record.scope.window_ms == 0 ? std::string("*")
                                               : core::format_duration_ms(record.scope.window_ms)},
        {"key", record.scope.key.empty() ? std::string("*") : record.scope.key},
        {"value", core::describe_value(record.kind, record.value)},
        {"remaining_ms", u(static_cast<std::uint64_t>(
                             std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms)))},
        {"set_by", record.stamp.node_id},
        {"reason", record.reason},
        {"applies_here", dynamic.applies_here(record.scope)},
    });
  }
  fields.push_back({"overrides", std::move(overrides)});
  // Key resets last until the windows they forget are over; listed so that an operator sees
  // why a key's counts are lower than its checks.
  std::vector<wire::StatusRecord> resets;
  for (const core::OverrideRecord& record : dynamic.resets(now)) {
    resets.push_back(wire::StatusRecord{
        {"policy", record.scope.policy},
        {"tier", record.scope.tier.empty() ? std::string("*") : record.scope.tier},
        {"endpoint", record.scope.endpoint.empty() ? std::string("*") : record.scope.endpoint},
        {"key", record.scope.key},
        {"ends_in_ms", u(static_cast<std::uint64_t>(
                           std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms)))},
        {"set_by", record.stamp.node_id},
        {"reason", record.reason},
    });
  }
  fields.push_back({"key_resets", std::move(resets)});
  std::vector<wire::StatusRecord> adaptive;
  for (const AdaptiveState& state : dynamic.adaptive()) {
    adaptive.push_back(wire::StatusRecord{
        {"policy", state.policy},
        {"signal", state.signal},
        {"signal_present", state.signal_present},
        {"smoothed", state.smoothed_signal},
        {"factor_permille", u(state.factor_permille)},
    });
  }
  fields.push_back({"adaptive", std::move(adaptive)});
}

}  // namespace

wire::StatusFields status_report(const DaemonContext& context) {
  wire::StatusFields fields = node_fields(context);
  append_http_fields(context, fields);
  append_state_fields(context, fields);
#ifdef DRL_WITH_ENVOY
  append_envoy_fields(context, fields);
#endif
  append_cluster_fields(context, fields);
  append_dynamic_fields(context, fields);
  return fields;
}

}  // namespace drl::daemon
