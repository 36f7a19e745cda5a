// The shipped nginx config (config/nginx/drl.conf) with a real nginx in front of a counting
// upstream and a real drld: what a client sees and what reaches the application.
//
// The test reads the shipped file and only substitutes loopback ports for its three addresses,
// so the file under test is the one operators copy. It exits 77 (skipped) when nginx or its
// auth_request module is not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr const char* kNginx = "/usr/sbin/nginx";

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

// The main config around the shipped server block: every path nginx writes is in the test's
// directory (@DIR@).
constexpr std::string_view kNginxConf = R"(worker_processes 1;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path @DIR@/client_body;
  proxy_temp_path @DIR@/proxy;
  fastcgi_temp_path @DIR@/fastcgi;
  uwsgi_temp_path @DIR@/uwsgi;
  scgi_temp_path @DIR@/scgi;
  include @DIR@/drl.conf;
}
)";

std::string replace_all(std::string_view text, std::string_view from, const std::string& to) {
  std::string out(text);
  for (std::size_t at = out.find(from); at != std::string::npos; at = out.find(from, at + 1)) {
    out.replace(at, from.size(), to);
  }
  return out;
}

std::string drld_config() {
  return "[node]\nsocket = \"@SOCKET@\"\nworkers = 1\n[http]\nlisten = \"127.0.0.1:0\"\n" +
         std::string(kPolicy);
}

// drld, the upstream, and nginx running the shipped config between them.
class NginxInFront {
 public:
  NginxInFront() : drld_(dir_, with_config(drld_config())) {
    drld_.require_ready();
    drld_port_ = drld_http_port(drld_);
    const std::string shipped = read_file(source_root() + "/config/nginx/drl.conf");
    REQUIRE_MESSAGE(!shipped.empty(), "config/nginx/drl.conf is missing");
    // A port picked here may be taken before nginx binds it: then nginx exits, and we retry.
    for (int attempt = 0; attempt < 3 && !nginx_; ++attempt) {
      port_ = pick_tcp_port();
      std::string server = shipped;
      server =
          replace_once(server, "server 127.0.0.1:8080;",
                       "server 127.0.0.1:" + std::to_string(drld_port_) + ";", "drl.conf (drld)");
      server = replace_once(server, "server 127.0.0.1:9000;",
                            "server 127.0.0.1:" + std::to_string(upstream_.port()) + ";",
                            "drl.conf (upstream)");
      server = replace_once(server, "listen 127.0.0.1:8000;",
                            "listen 127.0.0.1:" + std::to_string(port_) + ";", "drl.conf (listen)");
      write_file_in_place(dir_.file("drl.conf"), server);
      const std::string temp = dir_.path();
      write_file_in_place(dir_.file("nginx.conf"), replace_all(kNginxConf, "@DIR@", temp));
      auto nginx = std::make_unique<ChildProcess>(
          std::vector<std::string>{
              kNginx, "-e", "stderr", "-p", temp, "-c", dir_.file("nginx.conf"), "-g",
              "daemon off; pid " + dir_.file("nginx.pid") + "; error_log stderr;"},
          std::vector<std::string>{}, dir_.file("nginx.log"));
      if (wait_for_port(port_, 10s, [&] { return nginx->running(); })) {
        nginx_ = std::move(nginx);
      } else {
        MESSAGE("nginx did not start on port " << port_ << ":\n" << nginx->log());
      }
    }
    REQUIRE_MESSAGE(nginx_, "nginx did not start");
  }

  HttpResponse get(std::string_view target, HttpRequestOptions options = {}) {
    return http_request(port_, target, options);
  }

  std::string logs() const { return "nginx:\n" + nginx_->log() + "\ndrld:\n" + drld_.log(); }

  TempDir dir_;
  DaemonProcess drld_;
  CountingUpstream upstream_;
  std::unique_ptr<ChildProcess> nginx_;
  std::uint16_t drld_port_ = 0;
  std::uint16_t port_ = 0;
};

TEST_CASE(
    "nginx: allowed requests reach the upstream with RateLimit fields; over the limit, "
    "429 with Retry-After and the upstream never sees it") {
  NginxInFront proxy;
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
    CHECK(denied.header("Content-Type") == "application/problem+json");
    CHECK(denied.body.find("\"status\":429") != std::string::npos);
    CHECK(denied.body.find("Too Many Requests") != std::string::npos);
    CHECK(denied.header("RateLimit-Policy") == "\"api\";q=3;w=3600");
    CHECK(denied.header("RateLimit").value_or("").rfind("\"api\";r=0;t=", 0) == 0);
    CHECK(denied.header_count("Retry-After") == 1);
    // Three in this hour: the sliding window admits one more once a third of an hour of the
    // next window has passed, so the wait is between 20 minutes and 1 h 20 min.
    const int retry_s = std::stoi(denied.header("Retry-After").value_or("0"));
    CHECK(retry_s >= 1200);
    CHECK(retry_s <= 4800);
    // The body names the same wait as the header.
    CHECK(denied.body.find("retry in " + std::to_string(retry_s) + " s") != std::string::npos);
  }
  CHECK(proxy.upstream_.requests() == 3);

  // The upstream saw what the client sent, with the client in X-Forwarded-For.
  const auto seen = proxy.upstream_.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].target == "/v1/items?page=0");
  bool forwarded = false;
  for (const auto& [name, value] : seen[0].headers)
    forwarded = forwarded || (name == "x-forwarded-for" && value == "127.0.0.1");
  CHECK(forwarded);
}

TEST_CASE("nginx: the key is the client address, so a second client is counted apart") {
  NginxInFront proxy;
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

TEST_CASE("nginx: a client cannot pick its key, cost or tier with X-Drl-* fields or the query") {
  NginxInFront proxy;
  INFO(proxy.logs());
  HttpRequestOptions hostile;
  hostile.headers = {{"X-Drl-Key", "someone-else"},
                     {"X-Drl-Cost", "0"},
                     {"X-Drl-Tier", "pro"},
                     {"X-Drl-Endpoint", "GET /elsewhere"}};
  for (int i = 0; i < 3; ++i) {
    const HttpResponse allowed =
        proxy.get("/v1/items?key=k" + std::to_string(i) + "&cost=0&tier=pro", hostile);
    CAPTURE(allowed.text());
    REQUIRE(allowed.status == 200);
    // Counted, against the default limit of 3.
    CHECK(allowed.header("RateLimit")
              .value_or("")
              .rfind("\"api\";r=" + std::to_string(2 - i) + ";", 0) == 0);
  }
  const HttpResponse denied = proxy.get("/v1/items?key=fresh&cost=0&tier=pro", hostile);
  CAPTURE(denied.text());
  CHECK(denied.status == 429);
  CHECK(proxy.upstream_.requests() == 3);
}

TEST_CASE("nginx: the endpoint is the method and the path, so GET /v1/login has its own limit") {
  NginxInFront proxy;
  INFO(proxy.logs());
  const HttpResponse first = proxy.get("/v1/login?user=a");
  CAPTURE(first.text());
  REQUIRE(first.status == 200);
  // Both limits apply: the policy-wide one and the endpoint's, each as an item.
  CHECK(first.header("RateLimit-Policy") == "\"api\";q=3;w=3600, \"api:GET /v1/login\";q=1;w=3600");
  // A second login in the hour is over the endpoint's limit, whatever its query string.
  const HttpResponse second = proxy.get("/v1/login?user=b");
  CAPTURE(second.text());
  CHECK(second.status == 429);
  CHECK(second.header("RateLimit").value_or("").find("\"api:GET /v1/login\";r=0;") !=
        std::string::npos);
  // A POST to the same path is another endpoint, and other paths still pass.
  HttpRequestOptions post;
  post.method = "POST";
  CHECK(proxy.get("/v1/login", post).status == 200);
  CHECK(proxy.get("/v1/items").status == 200);
  CHECK(proxy.upstream_.requests() == 3);
}

TEST_CASE("nginx: the upstream's own 403 reaches the client unchanged, with the RateLimit fields") {
  NginxInFront proxy;
  INFO(proxy.logs());
  const HttpResponse forbidden = proxy.get("/status/403");
  CAPTURE(forbidden.text());
  CHECK(forbidden.status == 403);
  CHECK(forbidden.body == "upstream saw GET /status/403\n");
  CHECK(forbidden.header("RateLimit").value_or("").rfind("\"api\";r=2;", 0) == 0);
  CHECK(!forbidden.header("Retry-After"));
  CHECK(proxy.upstream_.requests() == 1);
}

TEST_CASE(
    "nginx: with drld gone the shipped config fails closed: 500, nothing reaches the "
    "upstream") {
  NginxInFront proxy;
  INFO(proxy.logs());
  REQUIRE(proxy.get("/v1/items").status == 200);
  proxy.drld_.kill_hard();
  const HttpResponse failed = proxy.get("/v1/items");
  CAPTURE(failed.text());
  CHECK(failed.status == 500);
  CHECK(proxy.upstream_.requests() == 1);
}

}  // namespace
}  // namespace drl::integration

int main(int argc, char** argv) {
  if (::access(drl::integration::kNginx, X_OK) != 0) {
    std::printf("SKIP: %s is not installed (apt-get install nginx)\n", drl::integration::kNginx);
    return 77;
  }
  const auto version = drl::integration::run_command({drl::integration::kNginx, "-V"});
  if (version.err.find("http_auth_request_module") == std::string::npos) {
    std::printf("SKIP: this nginx has no auth_request module:\n%s\n", version.err.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
