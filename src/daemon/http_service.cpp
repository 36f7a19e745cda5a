#include "daemon/http_service.hpp"

#include "daemon/metrics.hpp"
#include "daemon/rights_wait.hpp"
#include "daemon/startup_hold.hpp"
#include "http/decision_answer.hpp"
#include "http/request_mapping.hpp"
#include "io/clock.hpp"

namespace drl::daemon {
namespace {

// Each HTTP thread keeps the policies it last used; a lock is taken only when a
// reload, an override or an adaptive factor moved the policies' epoch.
struct PolicyCache {
  const DaemonContext* owner = nullptr;
  std::uint64_t epoch = 0;
  std::shared_ptr<const core::PolicySet> policies;
  std::vector<std::uint32_t> ids;
};
thread_local PolicyCache t_cache;

const PolicyCache& policies_for(DaemonContext& context) {
  const std::uint64_t epoch = context.dynamic->epoch();
  if (t_cache.owner != &context || t_cache.epoch != epoch || !t_cache.policies) {
    t_cache.owner = &context;
    t_cache.epoch = epoch;
    t_cache.policies = context.dynamic->policies();
    t_cache.ids = policy_ids_of(*t_cache.policies, context.policy_ids);
  }
  return t_cache;
}

http::HttpAnswer decide(DaemonContext& context, bool problem_details,
                        const http::HttpRequestView& request) {
  ServiceCounters& counters = *context.counters.back();
  counters.add(counters.requests);
  const core::MonoTime started = io::mono_now();
  const PolicyCache& cache = policies_for(context);
  auto mapped = http::map_request(*cache.policies, request, "/v1/check");
  if (const auto* error = std::get_if<http::MappingError>(&mapped)) {
    const Errc code = error->status == 404 ? Errc::unknown_policy : Errc::malformed_request;
    counters.add(counters.errors[static_cast<std::size_t>(code)]);
    return http::answer_error(error->status, error->detail);
  }
  const http::MappedCheck& check = std::get<http::MappedCheck>(mapped);
  const core::CheckItem item{check.policy, check.key, check.tier, check.endpoint, check.cost};
  core::CheckOutcome outcome;
  if (context.startup_hold != nullptr) context.startup_hold->wait();  // a node starting up
  core::WallTime now = io::wall_now();
  if (context.rights_wait != nullptr) {
    context.rights_wait->check(*context.engine, *cache.policies, std::span(&item, 1), outcome, now);
  } else {
    context.engine->check(*cache.policies, now, std::span(&item, 1), outcome);
  }
  record_check(counters, outcome, *cache.policies, cache.ids);
  http::HttpAnswer answer =
      outcome.error != Errc::ok
          ? http::answer_error(400,
                               std::string(errc_name(outcome.error)) + ": " + outcome.error_message)
          : http::answer_decision(outcome, check, problem_details, cache.policies.get());
  counters.record_latency(static_cast<std::uint64_t>(io::mono_now().ns - started.ns));
  return answer;
}

}  // namespace

std::vector<http::Route> http_routes(DaemonContext& context, const config::HttpSettings& settings) {
  std::vector<http::Route> routes;
  const bool problem_details = settings.problem_details;
  routes.push_back(http::Route{"/v1/check",
                               false,
                               {"GET", "POST"},
                               [&context, problem_details](const http::HttpRequestView& request) {
                                 return decide(context, problem_details, request);
                               }});
  routes.push_back(http::Route{"/metrics", true, {"GET"}, [&context](const http::HttpRequestView&) {
                                 http::HttpAnswer answer;
                                 answer.content_type = "text/plain; version=0.0.4; charset=utf-8";
                                 answer.body = render_metrics(context);
                                 return answer;
                               }});
  routes.push_back(http::Route{"/healthz", true, {"GET"}, [](const http::HttpRequestView&) {
                                 http::HttpAnswer answer;
                                 answer.content_type = "text/plain; charset=utf-8";
                                 answer.body = "ok\n";
                                 return answer;
                               }});
  return routes;
}

}  // namespace drl::daemon
