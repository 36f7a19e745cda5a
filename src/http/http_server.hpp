// The HTTP listener of drld: the decision endpoint and /metrics. Event-driven: a few threads,
// each a libuv loop (io::StreamServer), serve any number of connections up to max_connections,
// so idle or slow connections cost memory, not threads. Requests are parsed by http-parser
// (docs/integration.md says why); framing that two parsers could read in two ways is refused.
// Routes map a path to a callback; the callbacks run on the HTTP threads, concurrently, and
// must be thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "drl/result.hpp"
#include "http/decision_answer.hpp"
#include "http/http_request.hpp"
#include "io/main_loop.hpp"
#include "io/server_counters.hpp"
#include "io/stream_server.hpp"
#include "io/tcp_listener.hpp"

namespace drl::http {

struct Route {
  std::string path;  // "/v1/check": also serves "/v1/check/..." unless exact
  bool exact = false;
  std::vector<std::string> methods;  // e.g. {"GET", "POST"}; others get 405
  std::function<HttpAnswer(const HttpRequestView&)> handle;
};

struct HttpServerOptions {
  std::string listen;  // "host:port"; port 0 picks a free one
  std::size_t threads = bounds::http_threads_default;
  std::size_t max_connections = bounds::http_connections_default;
  std::uint64_t idle_timeout_ms = bounds::http_idle_timeout_ms_default;
  std::uint64_t request_timeout_ms = bounds::http_request_timeout_ms_default;
  std::uint64_t stalled_output_timeout_ms = 30'000;
  std::size_t max_pending_output_bytes = bounds::connection_output_bytes_default;
};

// Why a request was refused before any route saw it.
enum class HttpRefusal : std::uint8_t {
  malformed,          // not HTTP/1.x as RFC 9112 writes it
  ambiguous_framing,  // Content-Length twice, or with Transfer-Encoding, or an unknown coding
  bad_target,         // no path, a bad percent escape, or a NUL or control character in it
  head_too_large,     // request line and fields over bounds::http_request_head_bytes_max
  body_too_large,     // over bounds::http_request_body_bytes_max
};
inline constexpr std::size_t http_refusal_count = 5;
std::string_view http_refusal_name(HttpRefusal refusal);

// Answers by status code, and refusals by reason, for the metrics.
struct HttpCounters {
  static constexpr std::array<int, 13> codes{200, 400, 401, 403, 404, 405, 413,
                                             414, 429, 431, 500, 501, 0};
  std::array<std::atomic<std::uint64_t>, codes.size()> by_code{};  // 0: any other code
  std::array<std::atomic<std::uint64_t>, http_refusal_count> refused{};
  void count(int status);
  void count(HttpRefusal refusal);
};

class HttpServer {
 public:
  // Listens (connections wait in the backlog until start()). The routes are kept for the
  // server's life.
  static Result<std::unique_ptr<HttpServer>> open(io::MainLoop& loop,
                                                  const HttpServerOptions& options,
                                                  std::vector<Route> routes);
  ~HttpServer();  // stops, if stop() was not called
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the HTTP threads and accepting. Main loop thread.
  void start();
  // Stops accepting, closes every connection and joins the threads. Main loop thread only.
  void stop();

  // "host:port" with the port actually bound.
  const std::string& address() const { return listener_.address(); }
  const HttpCounters& counters() const { return counters_; }
  const io::ServerCounters& connection_counters() const { return server_->counters(); }

 private:
  HttpServer(std::vector<Route> routes, io::TcpListener listener);

  // In the order they depend on each other: the server's threads use the routes, the counters
  // and the listening socket, so it is destroyed (and joined) first.
  std::vector<Route> routes_;
  HttpCounters counters_;
  io::TcpListener listener_;
  std::unique_ptr<io::StreamServer> server_;
};

}  // namespace drl::http
