#include "http/http_server.hpp"

#include "http/http_session.hpp"

namespace drl::http {
namespace {

// Connections waiting to be accepted (the kernel caps it at net.core.somaxconn). The HTTP
// threads accept as fast as connections come, so the backlog only absorbs bursts.
constexpr int kListenBacklog = 4096;

}  // namespace

std::string_view http_refusal_name(HttpRefusal refusal) {
  switch (refusal) {
    case HttpRefusal::malformed:
      return "malformed";
    case HttpRefusal::ambiguous_framing:
      return "ambiguous_framing";
    case HttpRefusal::bad_target:
      return "bad_target";
    case HttpRefusal::head_too_large:
      return "head_too_large";
    case HttpRefusal::body_too_large:
      return "body_too_large";
  }
  return "malformed";
}

void HttpCounters::count(int status) {
  std::size_t slot = codes.size() - 1;
  for (std::size_t i = 0; i + 1 < codes.size(); ++i) {
    if (codes[i] == status) slot = i;
  }
  by_code[slot].fetch_add(1, std::memory_order_relaxed);
}

void HttpCounters::count(HttpRefusal refusal) {
  refused[static_cast<std::size_t>(refusal)].fetch_add(1, std::memory_order_relaxed);
}

HttpServer::HttpServer(std::vector<Route> routes, io::TcpListener listener)
    : routes_(std::move(routes)), listener_(std::move(listener)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::open(io::MainLoop& loop,
                                                     const HttpServerOptions& options,
                                                     std::vector<Route> routes) {
  Result<io::TcpListener> listener = io::TcpListener::open(options.listen, kListenBacklog);
  if (!listener.ok()) return Error{Errc::io_error, "HTTP: " + listener.error().message};
  std::unique_ptr<HttpServer> server(
      new HttpServer(std::move(routes), std::move(listener.value())));
  io::ServerOptions server_options;
  server_options.name = "HTTP";
  server_options.workers = options.threads;
  server_options.max_connections = options.max_connections;
  server_options.max_frame_bytes = bounds::http_request_head_bytes_max;
  server_options.max_pending_output_bytes = options.max_pending_output_bytes;
  server_options.idle_timeout_ms = options.idle_timeout_ms;
  server_options.frame_timeout_ms = options.request_timeout_ms;
  server_options.stalled_output_timeout_ms = options.stalled_output_timeout_ms;
  server_options.transport = io::Transport::tcp;
  server_options.evict_when_full = true;
  HttpServer& self = *server;
  server->server_ = std::make_unique<io::StreamServer>(
      loop, server->listener_.fd(), server_options,
      [&self](std::size_t, io::ServerCounters&) {
        return std::make_unique<HttpProtocol>(self.routes_, self.counters_);
      },
      // To a connection turned away for want of file descriptors (at max_connections the
      // one silent longest makes room instead).
      "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  return server;
}

void HttpServer::start() {
  server_->start();
}

void HttpServer::stop() {
  if (server_) server_->stop();
}

HttpServer::~HttpServer() {
  stop();
}

}  // namespace drl::http
