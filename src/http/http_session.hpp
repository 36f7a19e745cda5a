// HTTP/1.1 over an io::StreamServer: one HttpProtocol per HTTP thread (its read buffer, shared
// by the thread's connections), one session per connection (http-parser's state and the request
// being read, within bounds::http_request_* bounds). A whole request is answered at once, on the
// thread that read it; pipelined requests are answered in order. Refused framing gets 400 (or
// 413, 414, 431) and the connection is closed: its next bytes could not be told apart.
#pragma once

#include <memory>
#include <vector>

#include "http/http_server.hpp"
#include "io/stream_session.hpp"

namespace drl::http {

class HttpProtocol final : public io::StreamProtocol {
 public:
  // `routes` and `counters` must outlive the protocol and its sessions.
  HttpProtocol(const std::vector<Route>& routes, HttpCounters& counters);

  std::unique_ptr<io::StreamSession> open_session(const io::ConnectionInfo& connection) override;

  // The answer of the route `request` matches (404, 405 if none; 500 if the route throws).
  HttpAnswer route(const HttpRequestView& request) const;

  std::vector<char>& read_buffer() { return read_buffer_; }
  HttpCounters& counters() { return counters_; }

 private:
  const std::vector<Route>& routes_;
  HttpCounters& counters_;
  std::vector<char> read_buffer_;
};

}  // namespace drl::http
