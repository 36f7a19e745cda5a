#include "daemon/envoy_service.hpp"

#include "daemon/startup_hold.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_policies.hpp"
#include "io/clock.hpp"

namespace drl::daemon {
namespace {

envoy::RlsDeciderOptions decider_options(const config::EnvoySettings& settings) {
  envoy::RlsDeciderOptions options;
  options.ietf_headers = settings.response_headers == "ietf" || settings.response_headers == "both";
  options.x_ratelimit_headers =
      settings.response_headers == "x-ratelimit" || settings.response_headers == "both";
  return options;
}

// The decider's refusals as gRPC statuses: a request that is wrong as sent is INVALID_ARGUMENT
// (Envoy then does what its failure_mode_deny says); no rules in force is UNAVAILABLE.
envoy::RlsStatus status_of(const Error& error) {
  if (error.code == Errc::unavailable) return envoy::RlsStatus::unavailable(error.message);
  return envoy::RlsStatus::invalid_argument(error.message);
}

}  // namespace

Result<std::shared_ptr<const envoy::RlsRules>> load_envoy_rules(
    const config::EnvoySettings& settings) {
  envoy::RlsParseOptions options;
  options.default_algorithm = settings.algorithm;
  Result<envoy::RlsConfig> loaded = envoy::load_rls_directory(settings.config_dir, options);
  if (!loaded.ok()) return Error{Errc::reload_failed, "[envoy] " + loaded.error().message};
  Result<std::shared_ptr<const envoy::RlsRules>> built =
      envoy::RlsRules::build(std::move(loaded.value()));
  if (!built.ok()) return Error{Errc::reload_failed, "[envoy] " + built.error().message};
  return built;
}

EnvoyService::EnvoyService(const core::CheckEngine& engine, envoy::RlsDeciderOptions options)
    : decider_(engine, std::move(options)) {}

Result<std::unique_ptr<EnvoyService>> EnvoyService::start(const config::EnvoySettings& settings,
                                                          const core::CheckEngine& engine,
                                                          StartupHold& startup_hold) {
  Result<std::shared_ptr<const envoy::RlsRules>> rules = load_envoy_rules(settings);
  if (!rules.ok()) return rules.error();
  std::unique_ptr<EnvoyService> service(new EnvoyService(engine, decider_options(settings)));
  service->decider_.set_rules(std::move(rules.value()));
  envoy::GrpcServerOptions options;
  options.listen = settings.listen;
  options.threads = settings.threads;
  envoy::RlsDecider& decider = service->decider_;
  Result<std::unique_ptr<envoy::GrpcServer>> server = envoy::GrpcServer::start(
      options,
      [&decider, &startup_hold](const envoy::RlsRequest& request, envoy::RlsResponse& response) {
        startup_hold.wait();
        const Result<Done> decided = decider.decide(io::wall_now(), request, response);
        return decided.ok() ? envoy::RlsStatus{} : status_of(decided.error());
      });
  if (!server.ok()) {
    return Error{Errc::io_error,
                 "[envoy] listen " + settings.listen + ": " + server.error().message};
  }
  service->server_ = std::move(server.value());
  return service;
}

EnvoyService::~EnvoyService() {
  stop();
}

void EnvoyService::stop() {
  if (server_) server_->stop();
}

Result<std::function<std::string()>> EnvoyService::prepare(const config::EnvoySettings& settings) {
  Result<std::shared_ptr<const envoy::RlsRules>> rules = load_envoy_rules(settings);
  if (!rules.ok()) return rules.error();
  return std::function<std::string()>([this, rules = std::move(rules.value())] {
    decider_.set_rules(rules);
    return rules_summary(*rules);
  });
}

std::string rules_summary(const envoy::RlsRules& rules) {
  std::size_t limited = 0;
  for (const envoy::RlsDomainConfig& domain : rules.config().domains) {
    limited += domain.limited_count;
  }
  const std::size_t domains = rules.config().domains.size();
  return "[envoy] " + std::to_string(domains) + (domains == 1 ? " domain, " : " domains, ") +
         std::to_string(limited) + (limited == 1 ? " limit" : " limits");
}

std::size_t EnvoyService::domains() const {
  const auto rules = decider_.rules();
  return rules ? rules->config().domains.size() : 0;
}

std::size_t EnvoyService::limits() const {
  const auto rules = decider_.rules();
  if (!rules) return 0;
  std::size_t limited = 0;
  for (const envoy::RlsDomainConfig& domain : rules->config().domains) {
    limited += domain.limited_count;
  }
  return limited;
}

std::string EnvoyService::summary() const {
  const auto rules = decider_.rules();
  return rules ? rules_summary(*rules) : "[envoy] no rules";
}

}  // namespace drl::daemon
