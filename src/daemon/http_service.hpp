// The routes of drld's HTTP listener: /v1/check (decisions for proxies), /metrics
// (Prometheus text exposition) and /healthz.
#pragma once

#include <vector>

#include "config/config.hpp"
#include "daemon/service.hpp"
#include "http/http_server.hpp"

namespace drl::daemon {

// `context` must outlive the server the routes are given to.
std::vector<http::Route> http_routes(DaemonContext& context, const config::HttpSettings& settings);

}  // namespace drl::daemon
