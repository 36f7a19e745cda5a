// The client protocol served by one worker: decode a frame, act on it, encode the answer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/check_engine.hpp"
#include "core/origin_table.hpp"
#include "daemon/config_manager.hpp"
#include "daemon/dynamic_limits.hpp"
#include "daemon/service_counters.hpp"
#include "http/http_server.hpp"
#include "io/cluster_driver.hpp"
#include "io/frame_handler.hpp"
#include "io/server_counters.hpp"
#include "wire/request_decoder.hpp"

namespace drl::daemon {

class EnvoyService;
class RightsWait;
class StartupHold;
class StateKeeper;

// Shared by every worker's service; outlives them.
struct DaemonContext {
  core::CounterStore* store = nullptr;
  core::CheckEngine* engine = nullptr;
  ConfigManager* config = nullptr;
  // The policy set in force (configured, with overrides and adaptive factors): what checks use.
  DynamicLimits* dynamic = nullptr;
  core::OriginTable* origins = nullptr;
  const io::ServerCounters* server = nullptr;
  const io::ClusterDriver* cluster = nullptr;            // null for a single node
  const http::HttpCounters* http_counters = nullptr;     // null without [http]
  const io::ServerCounters* http_connections = nullptr;  // null without [http]
  const EnvoyService* envoy = nullptr;                   // null without [envoy]
  StartupHold* startup_hold = nullptr;  // checks wait here while a starting node syncs
  // Hard limits' checks denied for want of rights wait here for a grant (rights_wait_max).
  RightsWait* rights_wait = nullptr;
  StateKeeper* state = nullptr;  // with [node] state_dir: the counts on disk
  std::int64_t started_wall_ms = 0;
  bool cluster_authenticated = false;
  const std::atomic<std::uint64_t>* skew_threshold_ms = nullptr;
  // One per socket worker, then one for the HTTP endpoint (the last).
  std::vector<std::unique_ptr<ServiceCounters>> counters;
  PolicyIds policy_ids;
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::string version;
  core::MonoTime started;
  std::size_t workers = 0;
  std::size_t max_batch_checks = 0;
  std::size_t max_frame_bytes = 0;
};

class Service final : public io::FrameHandler {
 public:
  Service(DaemonContext& context, std::size_t worker);

  void begin(core::WallTime now) override;
  void on_frame(std::string_view frame, std::string& out) override;
  void on_oversized(std::size_t announced_bytes, std::string& out) override;

 private:
  void refresh_policies();
  void handle(std::string_view frame, std::string& out);
  void record(const core::CheckOutcome& outcome);
  void record_error(Errc code);
  void check(const wire::CheckSpan& span, core::CheckOutcome& outcome);

  DaemonContext& context_;
  ServiceCounters& counters_;
  std::shared_ptr<const core::PolicySet> policies_;
  std::vector<std::uint32_t> policy_ids_;  // of policies_, by index
  std::uint64_t epoch_ = 0;                // of DynamicLimits: the set in policies_
  core::WallTime now_;
  wire::RequestDecoder decoder_;
  wire::Request request_;
  core::CheckOutcome outcome_;
  std::vector<core::InspectedCounter> inspected_;
};

}  // namespace drl::daemon
