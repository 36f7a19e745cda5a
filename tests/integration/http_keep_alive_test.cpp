// HTTP/1.1 keep-alive on drld's decision endpoint: many requests over one connection, each
// answered promptly. Proxies (Envoy, Caddy, nginx with `keepalive`) reuse their connections to
// drld, so an answer that waits on the connection's state costs every request.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kConfig = R"(
[node]
socket = "@SOCKET@"
workers = 1

[http]
listen = "127.0.0.1:0"

[[policy]]
name = "api"
limit = 1000
window = "1h"
)";

TEST_CASE(
    "http keep-alive: fifty checks over one connection are all answered on it, none waiting on "
    "the client's delayed acknowledgement") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);

  HttpConnection connection(port);
  REQUIRE(connection.get("/v1/check/api?key=warm-up") == 200);
  constexpr int kRequests = 50;
  const auto started = SteadyClock::now();
  for (int i = 0; i < kRequests; ++i) {
    CAPTURE(i);
    REQUIRE(connection.get("/v1/check/api?key=k" + std::to_string(i)) == 200);
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
  MESSAGE(kRequests << " requests over one connection in " << took.count() << " ms");
  // Nagle's algorithm against a delayed ACK costs about 40 ms per answer (2 s for fifty); the
  // answers themselves take well under a millisecond each.
  CHECK(took < std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace drl::integration
