// Envoy's rate limit service in drld ([envoy]): envoyproxy/ratelimit's YAML files from
// config_dir, decided through the node's one CheckEngine (so counted on the same store and
// replicated like every other check), answered over gRPC. Built only with the meson feature
// 'envoy' (DRL_WITH_ENVOY).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "drl/result.hpp"
#include "envoy/grpc_server.hpp"
#include "envoy/rls_counters.hpp"
#include "envoy/rls_decider.hpp"

namespace drl::daemon {

class StartupHold;

class EnvoyService {
 public:
  // Reads config_dir and starts serving on `listen`. Errors name the file and line of a YAML
  // problem, or the address. `engine` and `startup_hold` outlive the service; calls wait in
  // `startup_hold` while the node is starting into a cluster.
  static Result<std::unique_ptr<EnvoyService>> start(const config::EnvoySettings& settings,
                                                     const core::CheckEngine& engine,
                                                     StartupHold& startup_hold);
  ~EnvoyService();  // stop()
  EnvoyService(const EnvoyService&) = delete;
  EnvoyService& operator=(const EnvoyService&) = delete;

  // Reads config_dir as `settings` name it (a reload): the rules, or the error that keeps the
  // rules in force. The function returned puts the rules in force and describes them
  // (rules_summary). Any thread.
  Result<std::function<std::string()>> prepare(const config::EnvoySettings& settings);

  // Refuses new calls, lets those in flight finish (within a grace time). Any thread.
  void stop();

  const std::string& address() const { return server_->address(); }
  const envoy::RlsCounters& counters() const { return decider_.counters(); }
  const envoy::RlsCallCounters& calls() const { return server_->counters(); }
  // The rules in force: their domains and limited descriptors.
  std::size_t domains() const;
  std::size_t limits() const;
  std::string summary() const;  // rules_summary of the rules in force

 private:
  EnvoyService(const core::CheckEngine& engine, envoy::RlsDeciderOptions options);

  // The decider outlives the server, whose threads call it.
  envoy::RlsDecider decider_;
  std::unique_ptr<envoy::GrpcServer> server_;
};

// "[envoy] 3 domains, 9 limits": what the rules hold, for the log and drld --check-config.
std::string rules_summary(const envoy::RlsRules& rules);

// What a reload of `settings.config_dir` would put in force, or why not: for drld
// --check-config too.
Result<std::shared_ptr<const envoy::RlsRules>> load_envoy_rules(
    const config::EnvoySettings& settings);

}  // namespace drl::daemon
