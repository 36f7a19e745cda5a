// The drld side of the Envoy setup of docs/integration.md ("Envoy (untested)"): Envoy is not in
// Debian, so this test sends the request its ext_authz HTTP filter would send (path_prefix
// "/v1/check/api?endpoint=" followed by the client's request target, the client address in
// x-envoy-external-address) to a drld with the documented [policy.http], and checks that the
// client's own query parameters and X-Drl-* headers change nothing.
#include <doctest/doctest.h>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr std::string_view kConfig = R"(
[node]
socket = "@SOCKET@"

[http]
listen = "127.0.0.1:0"

[[policy]]
name = "api"
limit = 3
window = "1h"

[policy.tiers.pro]
limit = 1000
window = "1h"

[policy.endpoints."/v1/login"]
limit = 1
window = "1h"

[policy.http]
key = ["header:X-Envoy-External-Address"]
endpoint = ["query:endpoint"]
tier = []
cost = []
)";

// What Envoy sends for a client request with target `client_target` from `client`.
HttpResponse envoy_check(std::uint16_t port, const std::string& client_target,
                         const std::string& client, Headers client_headers = {}) {
  HttpRequestOptions options;
  options.headers = std::move(client_headers);
  options.headers.emplace_back("x-envoy-external-address", client);
  return http_request(port, "/v1/check/api?endpoint=" + client_target, options);
}

TEST_CASE(
    "envoy request: key from x-envoy-external-address, endpoint from the prefix; the "
    "client's query and X-Drl-* headers change nothing") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);

  // The client tries to pick another key, a zero cost, the pro tier and another endpoint.
  const Headers forged{{"X-Drl-Key", "other"}, {"X-Drl-Cost", "0"}, {"X-Drl-Tier", "pro"}};
  const std::string sneaky = "/v1/items?page=1&key=other&cost=0&tier=pro&endpoint=/x";
  for (int i = 0; i < 3; ++i) {
    const HttpResponse allowed = envoy_check(port, sneaky, "203.0.113.9", forged);
    CAPTURE(allowed.text());
    REQUIRE(allowed.status == 200);
    CHECK(allowed.header("RateLimit-Policy") == "\"api\";q=3;w=3600");
    CHECK(allowed.header("RateLimit")
              .value_or("")
              .rfind("\"api\";r=" + std::to_string(2 - i) + ";", 0) == 0);
  }
  const HttpResponse denied = envoy_check(port, sneaky, "203.0.113.9", forged);
  CAPTURE(denied.text());
  CHECK(denied.status == 429);
  CHECK(denied.header("Retry-After"));

  // Another client address is another key; the endpoint's own limit applies by path, and the
  // client's query after it does not matter.
  const HttpResponse login = envoy_check(port, "/v1/login?user=a", "198.51.100.4");
  CAPTURE(login.text());
  CHECK(login.status == 200);
  CHECK(login.header("RateLimit-Policy") == "\"api\";q=3;w=3600, \"api:/v1/login\";q=1;w=3600");
  CHECK(envoy_check(port, "/v1/login?user=b&endpoint=/v1/other", "198.51.100.4").status == 429);

  // Without the address Envoy sets, there is no key: a 400, which Envoy treats as a denial.
  CHECK(http_request(port, "/v1/check/api?endpoint=/v1/items&key=k").status == 400);
}

}  // namespace
}  // namespace drl::integration
