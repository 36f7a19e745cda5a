#include "daemon/service.hpp"

#include "daemon/rights_wait.hpp"
#include "daemon/startup_hold.hpp"
#include "daemon/status_report.hpp"
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
  // A node starting into a cluster: wait for its peers' counts (the clock moved meanwhile).
  if (context_.startup_hold != nullptr && context_.startup_hold->wait()) now_ = io::wall_now();
  const std::span<const core::CheckItem> items(request_.items.data() + span.first, span.count);
  if (context_.rights_wait != nullptr) {
    context_.rights_wait->check(*context_.engine, *policies_, items, outcome, now_);
  } else {
    context_.engine->check(*policies_, now_, items, outcome);
  }
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
      const wire::StatusFields fields = status_report(context_);
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
    case wire::Op::key_reset: {
      Result<core::KeyReset> stored =
          context_.dynamic->reset(request_.override_request, *context_.engine, now_);
      if (!stored.ok()) {
        record_error(stored.error().code);
        encoder.error(request_.id, stored.error().code, stored.error().message);
        return;
      }
      refresh_policies();  // later requests of this connection see the reset
      encoder.key_reset_stored(request_.id, stored.value(), now_);
      return;
    }
    case wire::Op::override_list: {
      encoder.override_list(request_.id, context_.dynamic->listed(now_), now_);
      return;
    }
    case wire::Op::override_clear: {
      const Result<std::uint64_t> cleared =
          context_.dynamic->clear(request_.override_request, now_);
      if (!cleared.ok()) {
        record_error(cleared.error().code);
        encoder.error(request_.id, cleared.error().code, cleared.error().message);
        return;
      }
      refresh_policies();
      encoder.overrides_cleared(request_.id, cleared.value());
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

}  // namespace drl::daemon
