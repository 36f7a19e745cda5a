// The shipped Caddyfile (config/caddy/Caddyfile) with a real Caddy in front of a counting
// upstream and a real drld: what a client sees and what reaches the application.
//
// The test reads the shipped file and only substitutes loopback ports for its three addresses,
// so the file under test is the one operators copy. Caddy runs with HOME and the XDG
// directories in the test's temp directory. It exits 77 (skipped) when caddy is not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr const char* kCaddy = "/usr/bin/caddy";

// Three requests per client address per hour on any endpoint; one per hour on GET /v1/login.
// A "pro" tier with more, so that a client who could pick its tier would be let through.
constexpr std::string_view kPolicy = R"(
[[policy]]
name = "api"
limit = 3
window = "1h"

[policy.tiers.pro]
limit = 1000
window = "1h"

[policy.endpoints."GET /v1/login"]
limit = 1
window = "1h"
)";

std::string drld_config() {
  return "[node]\nsocket = \"@SOCKET@\"\nworkers = 1\n[http]\nlisten = \"127.0.0.1:0\"\n" +
         std::string(kPolicy);
}

// drld, the upstream, and Caddy running the shipped Caddyfile between them.
class CaddyInFront {
 public:
  CaddyInFront() : drld_(dir_, with_config(drld_config())) {
    drld_.require_ready();
    drld_port_ = drld_http_port(drld_);
    const std::string shipped = read_file(source_root() + "/config/caddy/Caddyfile");
    REQUIRE_MESSAGE(!shipped.empty(), "config/caddy/Caddyfile is missing");
    const std::vector<std::string> env{"HOME=" + dir_.path(), "XDG_DATA_HOME=" + dir_.file("data"),
                                       "XDG_CONFIG_HOME=" + dir_.file("config")};
    // A port picked here may be taken before Caddy binds it: then Caddy exits, and we retry.
    for (int attempt = 0; attempt < 3 && !caddy_; ++attempt) {
      port_ = pick_tcp_port();
      std::string caddyfile = shipped;
      caddyfile = replace_once(caddyfile, "forward_auth 127.0.0.1:8080 {",
                               "forward_auth 127.0.0.1:" + std::to_string(drld_port_) + " {",
                               "Caddyfile (drld)");
      caddyfile = replace_once(caddyfile, "reverse_proxy 127.0.0.1:9000\n",
                               "reverse_proxy 127.0.0.1:" + std::to_string(upstream_.port()) + "\n",
                               "Caddyfile (upstream)");
      caddyfile =
          replace_once(caddyfile, "http://:8000 {", "http://:" + std::to_string(port_) + " {",
                       "Caddyfile (site address)");
      write_file_in_place(dir_.file("Caddyfile"), caddyfile);
      auto caddy = std::make_unique<ChildProcess>(
          std::vector<std::string>{kCaddy, "run", "--config", dir_.file("Caddyfile"), "--adapter",
                                   "caddyfile"},
          env, dir_.file("caddy.log"));
      if (wait_for_port(port_, 15s, [&] { return caddy->running(); })) {
        caddy_ = std::move(caddy);
      } else {
        MESSAGE("caddy did not start on port " << port_ << ":\n" << caddy->log());
      }
    }
    REQUIRE_MESSAGE(caddy_, "caddy did not start");
  }

  HttpResponse get(std::string_view target, HttpRequestOptions options = {}) {
    return http_request(port_, target, options);
  }

  std::string logs() const { return "caddy:\n" + caddy_->log() + "\ndrld:\n" + drld_.log(); }

  TempDir dir_;
  DaemonProcess drld_;
  CountingUpstream upstream_;
  std::unique_ptr<ChildProcess> caddy_;
  std::uint16_t drld_port_ = 0;
  std::uint16_t port_ = 0;
};

std::optional<std::string> seen_header(const CountingUpstream::Seen& seen, std::string_view name) {
  for (const auto& [field, value] : seen.headers) {
    if (field == name) return value;
  }
  return std::nullopt;
}

TEST_CASE(
    "caddy: allowed requests reach the upstream with RateLimit fields; over the limit, "
    "drld's 429 with Retry-After and body, and the upstream never sees it") {
  CaddyInFront proxy;
  INFO(proxy.logs());
  for (int i = 0; i < 3; ++i) {
    const HttpResponse allowed = proxy.get("/v1/items?page=" + std::to_string(i));
    CAPTURE(allowed.text());
    REQUIRE(allowed.status == 200);
    CHECK(allowed.body == "upstream saw GET /v1/items?page=" + std::to_string(i) + "\n");
    CHECK(allowed.header("X-Upstream") == "counted");
    CHECK(allowed.header("RateLimit-Policy") == "\"api\";q=3;w=3600");
    const std::string left = "\"api\";r=" + std::to_string(2 - i) + ";t=";
    CHECK(allowed.header("RateLimit").value_or("").rfind(left, 0) == 0);
    CHECK(allowed.header_count("RateLimit") == 1);
    CHECK(!allowed.header("Retry-After"));
  }
  REQUIRE(proxy.upstream_.requests() == 3);

  for (int i = 0; i < 2; ++i) {
    const HttpResponse denied = proxy.get("/v1/items");
    CAPTURE(denied.text());
    CHECK(denied.status == 429);
    // drld's own answer, passed through: problem+json with the numbers of the decision.
    CHECK(denied.header("Content-Type") == "application/problem+json");
    CHECK(denied.body.find("\"status\":429") != std::string::npos);
    CHECK(denied.body.find("\"allowed\":false") != std::string::npos);
    CHECK(denied.header("RateLimit-Policy") == "\"api\";q=3;w=3600");
    CHECK(denied.header("RateLimit").value_or("").rfind("\"api\";r=0;t=", 0) == 0);
    CHECK(denied.header_count("RateLimit") == 1);
    CHECK(denied.header_count("Retry-After") == 1);
    // Three in this hour: the sliding window admits one more once a third of an hour of the
    // next window has passed, so the wait is between 20 minutes and 1 h 20 min.
    const int retry_s = std::stoi(denied.header("Retry-After").value_or("0"));
    CHECK(retry_s >= 1200);
    CHECK(retry_s <= 4800);
  }
  CHECK(proxy.upstream_.requests() == 3);

  // The application gets the quota too (copy_headers put it on the request).
  const auto seen = proxy.upstream_.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].target == "/v1/items?page=0");
  CHECK(seen_header(seen[2], "ratelimit").value_or("").rfind("\"api\";r=0;", 0) == 0);
}

TEST_CASE("caddy: the key is the client address, so a second client is counted apart") {
  CaddyInFront proxy;
  INFO(proxy.logs());
  for (int i = 0; i < 3; ++i) REQUIRE(proxy.get("/v1/items").status == 200);
  REQUIRE(proxy.get("/v1/items").status == 429);
  HttpRequestOptions other;
  other.source_address = "127.0.0.2";
  const HttpResponse allowed = proxy.get("/v1/items", other);
  CAPTURE(allowed.text());
  CHECK(allowed.status == 200);
  CHECK(allowed.header("RateLimit").value_or("").rfind("\"api\";r=2;", 0) == 0);
  CHECK(proxy.upstream_.requests() == 4);
}

TEST_CASE("caddy: a client cannot pick its key, cost or tier with X-Drl-* fields or the query") {
  CaddyInFront proxy;
  INFO(proxy.logs());
  HttpRequestOptions hostile;
  hostile.headers = {{"X-Drl-Key", "someone-else"},
                     {"X-Drl-Cost", "0"},
                     {"X-Drl-Tier", "pro"},
                     {"X-Drl-Endpoint", "GET /elsewhere"},
                     {"RateLimit", "\"api\";r=999;t=1"}};
  for (int i = 0; i < 3; ++i) {
    const HttpResponse allowed =
        proxy.get("/v1/items?key=k" + std::to_string(i) + "&cost=0&tier=pro", hostile);
    CAPTURE(allowed.text());
    REQUIRE(allowed.status == 200);
    CHECK(allowed.header("RateLimit")
              .value_or("")
              .rfind("\"api\";r=" + std::to_string(2 - i) + ";", 0) == 0);
  }
  const HttpResponse denied = proxy.get("/v1/items?key=fresh&cost=0&tier=pro", hostile);
  CAPTURE(denied.text());
  CHECK(denied.status == 429);
  CHECK(proxy.upstream_.requests() == 3);
}

TEST_CASE("caddy: the endpoint is the method and the path, so GET /v1/login has its own limit") {
  CaddyInFront proxy;
  INFO(proxy.logs());
  const HttpResponse first = proxy.get("/v1/login?user=a");
  CAPTURE(first.text());
  REQUIRE(first.status == 200);
  CHECK(first.header("RateLimit-Policy") == "\"api\";q=3;w=3600, \"api:GET /v1/login\";q=1;w=3600");
  const HttpResponse second = proxy.get("/v1/login?user=b");
  CAPTURE(second.text());
  CHECK(second.status == 429);
  CHECK(second.header("RateLimit").value_or("").find("\"api:GET /v1/login\";r=0;") !=
        std::string::npos);
  HttpRequestOptions post;
  post.method = "POST";
  CHECK(proxy.get("/v1/login", post).status == 200);
  CHECK(proxy.get("/v1/items").status == 200);
  CHECK(proxy.upstream_.requests() == 3);
}

TEST_CASE(
    "caddy: with drld gone the shipped config fails closed: 502, nothing reaches the "
    "upstream") {
  CaddyInFront proxy;
  INFO(proxy.logs());
  REQUIRE(proxy.get("/v1/items").status == 200);
  proxy.drld_.kill_hard();
  const HttpResponse failed = proxy.get("/v1/items");
  CAPTURE(failed.text());
  CHECK(failed.status == 502);
  CHECK(proxy.upstream_.requests() == 1);
}

}  // namespace
}  // namespace drl::integration

int main(int argc, char** argv) {
  if (::access(drl::integration::kCaddy, X_OK) != 0) {
    std::printf("SKIP: %s is not installed (apt-get install caddy)\n", drl::integration::kCaddy);
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
