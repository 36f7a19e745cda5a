#include "daemon/service.hpp"
#ifdef DRL_WITH_ENVOY
#include "daemon/envoy_service.hpp"
#endif

#include <unistd.h>

#include "core/duration.hpp"
#include "io/clock.hpp"
#include "io/log.hpp"
#include "wire/response_encoder.hpp"

namespace drl::daemon {
namespace {

io::RateLimitedLog g_bad_request_log(io::LogLevel::debug, 10, 10'000);

}  // namespace

Service::Service(DaemonContext& context, std::size_t worker)
    : context_(context),
      counters_(*context.counters.at(worker)),
      decoder_(context.max_batch_checks, context.max_frame_bytes) {
  refresh_policies();
}

void Service::refresh_policies() {
  const std::uint64_t epoch = context_.dynamic->epoch();
  if (epoch == epoch_ && policies_) return;
  policies_ = context_.dynamic->policies();
  policy_ids_ = policy_ids_of(*policies_, context_.policy_ids);
  epoch_ = epoch;
}

void Service::begin(core::WallTime now) {
  now_ = now;
  // One atomic load per read callback; the lock is taken only when the policies changed (a
  // reload, an override, an adaptive factor).
  if (context_.dynamic->epoch() != epoch_) refresh_policies();
}

void Service::record(const core::CheckOutcome& outcome) {
  record_check(counters_, outcome, *policies_, policy_ids_);
}

void Service::record_error(Errc code) {
  counters_.add(counters_.errors[static_cast<std::size_t>(code)]);
}

void Service::check(const wire::CheckSpan& span, core::CheckOutcome& outcome) {
  if (span.error != Errc::ok) {
    outcome.error = span.error;
    outcome.error_message = span.error_message;
    return;
  }
  context_.engine->check(
      *policies_, now_,
      std::span<const core::CheckItem>(request_.items.data() + span.first, span.count), outcome);
}

void Service::on_frame(std::string_view frame, std::string& out) {
  const core::MonoTime started = io::mono_now();
  counters_.add(counters_.requests);
  handle(frame, out);
  counters_.record_latency(static_cast<std::uint64_t>(io::mono_now().ns - started.ns));
}

void Service::handle(std::string_view frame, std::string& out) {
  wire::ResponseEncoder encoder(out);
  const Result<Done> decoded = decoder_.decode(frame, request_);
  if (!decoded.ok()) {
    record_error(decoded.error().code);
    g_bad_request_log.log("bad request: " + decoded.error().message);
    encoder.error(request_.id, decoded.error().code, decoded.error().message);
    return;
  }
  switch (request_.op) {
    case wire::Op::check: {
      const wire::CheckSpan& span = request_.checks.front();
      check(span, outcome_);
      record(outcome_);
      if (outcome_.error != Errc::ok) {
        encoder.error(request_.id, outcome_.error, outcome_.error_message);
      } else {
        encoder.decision(request_.id, outcome_, span.detail, policies_.get());
      }
      return;
    }
    case wire::Op::batch: {
      encoder.begin_batch(request_.id, request_.checks.size());
      for (const wire::CheckSpan& span : request_.checks) {
        check(span, outcome_);
        record(outcome_);
        if (outcome_.error != Errc::ok) {
          encoder.batch_error(outcome_.error, outcome_.error_message);
        } else {
          encoder.batch_decision(outcome_, span.detail, policies_.get());
        }
      }
      encoder.end_batch();
      return;
    }
    case wire::Op::ping:
      encoder.pong(request_.id, "drld " + context_.version);
      return;
    case wire::Op::reload: {
      Result<ReloadOutcome> reloaded = context_.config->reload("drl reload", false);
      if (!reloaded.ok()) {
        // Counted by the config manager (drl_config_reloads_total{result="failed"}), not as a
        // refused check: an operator's bad file is not an error rate of the checking path.
        encoder.error(request_.id, Errc::reload_failed, reloaded.error().message);
        return;
      }
      refresh_policies();
      encoder.reloaded(request_.id, reloaded->generation, reloaded->message);
      return;
    }
    case wire::Op::status: {
      const wire::StatusFields fields = context_.status_fields();
      encoder.status(request_.id, fields);
      return;
    }
    case wire::Op::inspect: {
      const wire::CheckSpan& span = request_.checks.front();
      if (span.error != Errc::ok) {
        record_error(span.error);
        encoder.error(request_.id, span.error, span.error_message);
        return;
      }
      std::string message;
      const Errc code = context_.engine->inspect(*policies_, now_, request_.items[span.first],
                                                 inspected_, message);
      if (code != Errc::ok) {
        record_error(code);
        encoder.error(request_.id, code, message);
        return;
      }
      encoder.inspected(request_.id, inspected_, *context_.origins);
      return;
    }
    case wire::Op::override_set: {
      Result<core::OverrideRecord> stored = context_.dynamic->set(request_.override_request, now_);
      if (!stored.ok()) {
        record_error(stored.error().code);
        encoder.error(request_.id, stored.error().code, stored.error().message);
        return;
      }
      // The set in force moved: later requests of this connection see it.
      refresh_policies();
      encoder.override_stored(request_.id, stored.value(), now_);
      return;
    }
    case wire::Op::override_list: {
      const std::vector<core::OverrideRecord> active = context_.dynamic->active(now_);
      encoder.override_list(request_.id, active, now_);
      return;
    }
    case wire::Op::override_clear: {
      const std::uint64_t cleared = context_.dynamic->clear(request_.override_request, now_);
      refresh_policies();
      encoder.overrides_cleared(request_.id, cleared);
      return;
    }
    case wire::Op::report: {
      const Result<Done> reported =
          context_.dynamic->report(request_.report.name, request_.report.value, io::mono_now());
      if (!reported.ok()) {
        record_error(reported.error().code);
        encoder.error(request_.id, reported.error().code, reported.error().message);
        return;
      }
      encoder.reported(request_.id);
      return;
    }
  }
}

void Service::on_oversized(std::size_t, std::string& out) {
  record_error(Errc::too_large);
  wire::ResponseEncoder encoder(out);
  encoder.error(0, Errc::too_large,
                "frame larger than max_request_bytes (" + std::to_string(context_.max_frame_bytes) +
                    "); closing the connection");
}

wire::StatusFields DaemonContext::status_fields() const {
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t shadow_denied = 0;
  std::uint64_t tier_unknown = 0;
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  for (const auto& worker : counters) {
    allowed += worker->checks_allowed.load(std::memory_order_relaxed);
    denied += worker->checks_denied.load(std::memory_order_relaxed);
    shadow_denied += worker->checks_shadow_denied.load(std::memory_order_relaxed);
    tier_unknown += worker->checks_tier_unknown.load(std::memory_order_relaxed);
    requests += worker->requests.load(std::memory_order_relaxed);
    for (const auto& count : worker->errors) errors += count.load(std::memory_order_relaxed);
  }
  const core::StoreStats store_stats = store->stats();
  const auto policies = dynamic->policies();
  const std::int64_t uptime_ms = (io::mono_now().ns - started.ns) / 1'000'000;
  const auto u = [](std::uint64_t value) { return value; };
  std::uint64_t permission_warnings = 0;
  for (const std::uint64_t count : config->permission_warnings()) permission_warnings += count;
  wire::StatusFields fields{
      {"node_id", node_id},
      {"incarnation", u(incarnation)},
      {"version", version},
      {"pid", u(static_cast<std::uint64_t>(::getpid()))},
      {"uptime_ms", u(static_cast<std::uint64_t>(uptime_ms))},
      {"config_path", config->path().value_or("(embedded default)")},
      {"config_generation", u(config->generation())},
      {"config_reloads", u(config->reloads())},
      {"config_reload_failures", u(config->reload_failures())},
      {"file_permission_warnings", u(permission_warnings)},
      {"policies", u(policies->policies().size())},
      {"workers", u(workers)},
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
      {"connections_open", u(server->connections_open.load(std::memory_order_relaxed))},
      {"connections_accepted", u(server->connections_accepted.load(std::memory_order_relaxed))},
      {"connections_rejected", u(server->connections_rejected.load(std::memory_order_relaxed))},
      {"connections_rejected_no_fds",
       u(server->connections_rejected_no_fds.load(std::memory_order_relaxed))},
      {"frames", u(server->frames.load(std::memory_order_relaxed))},
      {"frames_oversized", u(server->frames_oversized.load(std::memory_order_relaxed))},
      {"read_errors", u(server->read_errors.load(std::memory_order_relaxed))},
      {"output_pauses", u(server->output_pauses.load(std::memory_order_relaxed))},
      {"connections_timed_out_idle", u(server->timed_out_idle.load(std::memory_order_relaxed))},
      {"connections_timed_out_frame", u(server->timed_out_frame.load(std::memory_order_relaxed))},
      {"connections_timed_out_stalled_output",
       u(server->timed_out_stalled_output.load(std::memory_order_relaxed))},
      {"requests", u(requests)},
      {"checks_allowed", u(allowed)},
      {"checks_denied", u(denied)},
      {"checks_shadow_denied", u(shadow_denied)},
      {"checks_tier_unknown", u(tier_unknown)},
      {"errors", u(errors)},
  };
  if (http_connections != nullptr && http_counters != nullptr) {
    const io::ServerCounters& h = *http_connections;
    std::uint64_t refused = 0;
    for (const auto& count : http_counters->refused)
      refused += count.load(std::memory_order_relaxed);
    fields.push_back(
        {"http_connections_open", u(h.connections_open.load(std::memory_order_relaxed))});
    fields.push_back(
        {"http_connections_accepted", u(h.connections_accepted.load(std::memory_order_relaxed))});
    fields.push_back(
        {"http_connections_evicted", u(h.connections_evicted.load(std::memory_order_relaxed))});
    fields.push_back(
        {"http_connections_timed_out_idle", u(h.timed_out_idle.load(std::memory_order_relaxed))});
    fields.push_back({"http_connections_timed_out_request",
                      u(h.timed_out_frame.load(std::memory_order_relaxed))});
    fields.push_back({"http_connections_timed_out_stalled_output",
                      u(h.timed_out_stalled_output.load(std::memory_order_relaxed))});
    fields.push_back({"http_requests_refused", u(refused)});
  }
#ifdef DRL_WITH_ENVOY
  if (envoy != nullptr) {
    std::uint64_t over_limit = 0;
    std::uint64_t answered = 0;
    for (const envoy::RlsCounters::DomainSample& domain : envoy->counters().domains()) {
      over_limit += domain.counts.requests_over_limit;
      answered += domain.counts.requests_ok + domain.counts.requests_over_limit;
    }
    fields.push_back({"envoy_listen", envoy->address()});
    fields.push_back({"envoy_domains", u(envoy->domains())});
    fields.push_back({"envoy_limits", u(envoy->limits())});
    fields.push_back({"envoy_requests", u(answered)});
    fields.push_back({"envoy_requests_over_limit", u(over_limit)});
    fields.push_back({"envoy_request_errors", u(envoy->calls().refused())});
  }
#endif
  if (cluster == nullptr) {
    fields.push_back({"cluster", std::string("single node")});
    append_dynamic_fields(fields);
    return fields;
  }
  const io::ClusterSnapshot snapshot = cluster->snapshot();
  const std::uint64_t threshold = skew_threshold_ms != nullptr ? skew_threshold_ms->load() : 0;
  std::uint64_t dropped = 0;
  for (std::uint64_t count : snapshot.datagrams.dropped) dropped += count;
  const auto i64 = [](std::int64_t value) { return value; };
  fields.push_back({"cluster", std::string("on")});
  fields.push_back({"cluster_bind", snapshot.bind_address});
  fields.push_back({"cluster_authenticated", cluster_authenticated});
  fields.push_back({"partition_policy", std::string(core::partition_policy_name(
                                            config->current().cluster.partition_policy))});
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
    });
  }
  fields.push_back({"peers", std::move(peers)});
  append_dynamic_fields(fields);
  return fields;
}

void DaemonContext::append_dynamic_fields(wire::StatusFields& fields) const {
  const core::WallTime now = io::wall_now();
  const std::vector<core::OverrideRecord> active = dynamic->active(now);
  const core::OverrideStats table = dynamic->table().stats();
  const auto u = [](std::uint64_t value) { return value; };
  fields.push_back({"policies_epoch", u(dynamic->epoch())});
  fields.push_back({"overrides_active", u(active.size())});
  fields.push_back({"overrides_merged", u(table.merged)});
  fields.push_back({"overrides_expired", u(table.expired)});
  std::uint64_t unmatched = 0;
  for (const core::OverrideRecord& record : active) {
    unmatched += dynamic->applies_here(record.scope) ? 0 : 1;
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
        {"value", core::describe_value(record.kind, record.value)},
        {"remaining_ms", u(static_cast<std::uint64_t>(
                             std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms)))},
        {"set_by", record.stamp.node_id},
        {"reason", record.reason},
        {"applies_here", dynamic->applies_here(record.scope)},
    });
  }
  fields.push_back({"overrides", std::move(overrides)});
  std::vector<wire::StatusRecord> adaptive;
  for (const AdaptiveState& state : dynamic->adaptive()) {
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

}  // namespace drl::daemon
