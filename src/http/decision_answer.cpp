#include "http/decision_answer.hpp"

#include <http_parser.h>

#include <cstdio>

#include "core/duration.hpp"
#include "wire/json_writer.hpp"
#include "wire/ratelimit_fields.hpp"

namespace drl::http {

using wire::sf_string;

HttpAnswer answer_decision(const core::CheckOutcome& outcome, const MappedCheck& check,
                           bool problem_details, const core::PolicySet* policies) {
  HttpAnswer out;
  out.status = outcome.allowed ? 200 : check.deny_status;
  const wire::RateLimitFields fields = wire::ratelimit_fields(outcome);
  if (!fields.policy.empty()) {
    out.headers.emplace_back("RateLimit-Policy", fields.policy);
    out.headers.emplace_back("RateLimit", fields.remaining);
  }
  const bool has_limit = outcome.limit_count > 0;
  const core::LimitOutcome* binding = has_limit ? &outcome.binding_limit() : nullptr;
  const std::uint64_t retry_ms =
      has_limit && !outcome.allowed ? binding->verdict.retry_after_ms : 0;
  if (!outcome.allowed) {
    out.headers.emplace_back(
        "Retry-After", std::to_string(std::max<std::uint64_t>(1, whole_seconds_up(retry_ms))));
  }
  if (outcome.shadow_denied) out.headers.emplace_back("Drl-Shadow-Denied", "?1");
  const bool adjusted = has_limit && policies != nullptr && binding->adjustment != 0;
  const std::string note = adjusted ? core::adjustment_text(*binding, *policies) : std::string();
  if (adjusted) {
    out.headers.emplace_back("Drl-Adjusted", sf_string(note) + ";configured=" +
                                                 std::to_string(binding->rule->configured_limit));
  }

  wire::JsonWriter json;
  json.begin_object();
  if (!outcome.allowed && out.status == 429 && problem_details) {
    out.content_type = "application/problem+json";
    char detail[256];
    // The same whole seconds as Retry-After; a wait of a minute or more also as a duration.
    const std::uint64_t retry_s = std::max<std::uint64_t>(1, whole_seconds_up(retry_ms));
    const std::string readable =
        retry_s >= 60 ? " (" + core::format_duration_ms(retry_s * 1000) + ")" : std::string();
    if (has_limit && binding->blocked_until_wall_ms != 0) {
      std::snprintf(detail, sizeof detail, "key blocked by an override; retry in %llu s%s",
                    static_cast<unsigned long long>(retry_s), readable.c_str());
    } else {
      std::snprintf(detail, sizeof detail, "limit of %llu per %s reached; retry in %llu s%s",
                    static_cast<unsigned long long>(has_limit ? binding->limit : 0),
                    has_limit ? core::format_duration_ms(binding->rule->window_ms).c_str() : "-",
                    static_cast<unsigned long long>(retry_s), readable.c_str());
    }
    json.key("type").value("about:blank");
    json.key("title").value("Too Many Requests");
    json.key("status").value(static_cast<std::uint64_t>(429));
    json.key("detail").value(detail);
  }
  json.key("allowed").value(outcome.allowed);
  json.key("policy").value(has_limit ? std::string_view(binding->policy->name)
                                     : std::string_view(check.policy));
  json.key("limit").value(has_limit ? binding->limit : 0);
  json.key("window_ms").value(has_limit ? static_cast<std::uint64_t>(binding->rule->window_ms) : 0);
  json.key("remaining").value(has_limit ? binding->verdict.remaining : 0);
  json.key("reset_after_ms").value(has_limit ? binding->verdict.reset_after_ms : 0);
  json.key("retry_after_ms").value(retry_ms);
  json.key("shadow_denied").value(outcome.shadow_denied);
  json.key("staleness_ms")
      .value(static_cast<std::uint64_t>(std::max<std::int64_t>(0, outcome.staleness_ms)));
  if (adjusted) {
    json.key("configured_limit").value(binding->rule->configured_limit);
    json.key("adjusted").value(note);
  }
  if (has_limit && binding->policy->enforcement == core::Enforcement::hard) {
    json.key("enforcement").value(core::enforcement_name(core::Enforcement::hard));
  }
  json.end_object();
  out.body = json.str();
  return out;
}

HttpAnswer answer_error(int status, const std::string& detail) {
  HttpAnswer out;
  out.status = status;
  out.content_type = "application/problem+json";
  wire::JsonWriter json;
  json.begin_object()
      .key("type")
      .value("about:blank")
      .key("title")
      .value(http_status_str(static_cast<http_status>(status)))
      .key("status")
      .value(static_cast<std::uint64_t>(status))
      .key("detail")
      .value(detail)
      .end_object();
  out.body = json.str();
  return out;
}

}  // namespace drl::http
