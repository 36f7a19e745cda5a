// The HTTP listener of drld (civetweb: its own pool of threads, HTTP/1.1 keep-alive, request
// size and time limits). Routes map a path to a callback; the callbacks run on civetweb's
// threads, concurrently, and must be thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drl/result.hpp"
#include "http/decision_answer.hpp"
#include "http/http_request.hpp"

// civetweb's types, declared here so that its header stays out of ours.
struct mg_connection;
struct mg_context;

namespace drl::http {

struct Route {
  std::string path;  // "/v1/check": also serves "/v1/check/..." unless exact
  bool exact = false;
  std::vector<std::string> methods;  // e.g. {"GET", "POST"}; others get 405
  std::function<HttpAnswer(const HttpRequestView&)> handle;
};

struct HttpServerOptions {
  std::string listen;  // "host:port"; port 0 picks a free one
  std::size_t threads = 16;
  std::uint64_t request_timeout_ms = 10'000;
};

// Answers by status code, for the metrics.
struct HttpCounters {
  static constexpr std::array<int, 10> codes{200, 400, 401, 403, 404, 405, 413, 429, 500, 0};
  std::array<std::atomic<std::uint64_t>, codes.size()> by_code{};  // 0: any other code
  void count(int status);
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   std::vector<Route> routes);
  ~HttpServer();  // stops, waiting for the threads
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // "host:port" with the port actually bound.
  const std::string& address() const { return address_; }
  const HttpCounters& counters() const { return counters_; }

 private:
  HttpServer() = default;
  struct RouteContext;
  static int on_request(::mg_connection* connection, void* route);

  std::vector<std::unique_ptr<Route>> routes_;
  std::vector<std::unique_ptr<RouteContext>> route_contexts_;
  ::mg_context* context_ = nullptr;
  std::string address_;
  HttpCounters counters_;
};

}  // namespace drl::http
