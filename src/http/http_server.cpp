#include "http/http_server.hpp"

#include <civetweb.h>

#include <algorithm>
#include <cstring>

namespace drl::http {
namespace {

// Civetweb is initialised once per process.
struct Library {
  Library() { mg_init_library(0); }
  ~Library() { mg_exit_library(); }
};

Library& library() {
  static Library instance;
  return instance;
}

void send(mg_connection* connection, const HttpAnswer& answer) {
  mg_response_header_start(connection, answer.status);
  mg_response_header_add(connection, "Content-Type", answer.content_type.c_str(), -1);
  mg_response_header_add(connection, "Content-Length", std::to_string(answer.body.size()).c_str(),
                         -1);
  mg_response_header_add(connection, "Cache-Control", "no-store", -1);
  for (const auto& [name, value] : answer.headers) {
    mg_response_header_add(connection, name.c_str(), value.c_str(), -1);
  }
  mg_response_header_send(connection);
  if (!answer.body.empty()) mg_write(connection, answer.body.data(), answer.body.size());
}

}  // namespace

void HttpCounters::count(int status) {
  std::size_t slot = codes.size() - 1;
  for (std::size_t i = 0; i + 1 < codes.size(); ++i) {
    if (codes[i] == status) slot = i;
  }
  by_code[slot].fetch_add(1, std::memory_order_relaxed);
}

struct HttpServer::RouteContext {
  HttpServer* server;
  const Route* route;
};

int HttpServer::on_request(mg_connection* connection, void* data) {
  const auto* context = static_cast<const RouteContext*>(data);
  const mg_request_info* info = mg_get_request_info(connection);
  const Route& route = *context->route;
  const std::string_view path = info->local_uri != nullptr ? info->local_uri : "";
  HttpAnswer answer;
  if (route.exact && path != route.path) {
    answer = answer_error(404, "no such resource");
  } else if (std::find(route.methods.begin(), route.methods.end(),
                       std::string_view(info->request_method)) == route.methods.end()) {
    answer = answer_error(405, "method not allowed here");
    std::string allowed;
    for (const std::string& method : route.methods)
      allowed += (allowed.empty() ? "" : ", ") + method;
    answer.headers.emplace_back("Allow", allowed);
  } else {
    HttpRequestView request;
    request.method = info->request_method;
    request.path = path;
    request.query = info->query_string != nullptr ? info->query_string : "";
    request.remote_addr = info->remote_addr;
    request.header = [connection](std::string_view name) -> std::optional<std::string_view> {
      const std::string key(name);
      const char* value = mg_get_header(connection, key.c_str());
      if (value == nullptr) return std::nullopt;
      return std::string_view(value);
    };
    // A callback must not throw; if one does, this request fails, not the daemon.
    try {
      answer = route.handle(request);
    } catch (const std::exception& error) {
      answer = answer_error(500, std::string("internal error: ") + error.what());
    }
  }
  context->server->counters_.count(answer.status);
  send(connection, answer);
  return answer.status;
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      std::vector<Route> routes) {
  library();
  std::unique_ptr<HttpServer> server(new HttpServer());
  const std::string threads = std::to_string(options.threads);
  const std::string timeout = std::to_string(options.request_timeout_ms);
  const char* civet_options[] = {"listening_ports", options.listen.c_str(), "num_threads",
                                 threads.c_str(), "request_timeout_ms", timeout.c_str(),
                                 "keep_alive_timeout_ms", timeout.c_str(), "enable_keep_alive",
                                 "yes",
                                 // An answer is written as headers, then body: without this,
                                 // Nagle holds the body until the client's delayed ACK, about
                                 // 40 ms per answer on a reused connection.
                                 "tcp_nodelay", "1", "max_request_size",
                                 "16384",  // request line and headers
                                 nullptr};
  mg_callbacks callbacks{};
  // Civetweb's own messages (bind failures, bad requests) stay out of the log; a failed start
  // is reported below.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.configuration_options = civet_options;
  char error_text[256] = {};
  mg_error_data error{};
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return Error{Errc::io_error, "cannot serve HTTP on " + options.listen + ": " +
                                     (error_text[0] != '\0' ? error_text : "start failed")};
  }
  for (Route& route : routes) {
    server->routes_.push_back(std::make_unique<Route>(std::move(route)));
  }
  for (const auto& route : server->routes_) {
    auto* context = new RouteContext{server.get(), route.get()};
    server->route_contexts_.emplace_back(context);
    mg_set_request_handler(server->context_, route->path.c_str(), on_request, context);
  }
  mg_server_port ports[4] = {};
  const int count = mg_get_server_ports(server->context_, 4, ports);
  const std::size_t colon = options.listen.rfind(':');
  server->address_ = options.listen;
  if (count > 0 && colon != std::string::npos) {
    server->address_ = options.listen.substr(0, colon + 1) + std::to_string(ports[0].port);
  }
  return server;
}

HttpServer::~HttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

}  // namespace drl::http
