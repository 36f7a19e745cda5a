// drld's /metrics, scraped over HTTP, while checks arrive over the Unix socket and over the HTTP
// decision endpoint: each counter of docs/monitoring.md moves by exactly what was done.
#include <doctest/doctest.h>

#include <cmath>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr std::string_view kConfig = R"(
[node]
socket = "@SOCKET@"
workers = 1

[http]
listen = "127.0.0.1:0"

[[policy]]
name = "api"
limit = 5
window = "1h"

[policy.tiers.pro]
limit = 50
window = "1h"

[[policy]]
name = "trial"
limit = 1
window = "1h"
shadow = true
)";

class Scraper {
 public:
  explicit Scraper(std::uint16_t port) : port_(port) {}

  // A scrape; the change of every series since the previous one is delta().
  void scrape() {
    const HttpResponse answer = http_request(port_, "/metrics");
    REQUIRE(answer.status == 200);
    REQUIRE(answer.header("Content-Type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
    before_ = std::move(now_);
    now_ = parse_metrics(answer.body);
    text_ = answer.body;
  }

  double value(const std::string& series) const {
    const auto at = now_.find(series);
    if (at == now_.end()) FAIL("no series " << series << " in:\n" << text_);
    return at->second;
  }

  double delta(const std::string& series) const {
    const auto at = before_.find(series);
    return value(series) - (at == before_.end() ? 0.0 : at->second);
  }

  const std::string& text() const { return text_; }

 private:
  std::uint16_t port_;
  std::map<std::string, double> before_;
  std::map<std::string, double> now_;
  std::string text_;
};

std::string checks(std::string_view policy, std::string_view decision) {
  return "drl_checks_total{policy=\"" + std::string(policy) + "\",decision=\"" +
         std::string(decision) + "\"}";
}

TEST_CASE("metrics: checks over the socket and over HTTP move the counters by what was done") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);
  drl::Client client = drld.connect();
  const auto version = client.ping();
  REQUIRE(version.ok());
  Scraper metrics(port);
  metrics.scrape();
  // ping answers "drld VERSION".
  const std::string number = version->substr(version->rfind(' ') + 1);
  CHECK(metrics.value("drl_build_info{version=\"" + number + "\"}") == 1);

  // Over the socket: 5 allowed and 2 denied on "api"; the shadow policy admits 2, one of them
  // only because it does not enforce; one check names a tier "api" does not have.
  for (int i = 0; i < 7; ++i) {
    const auto decision = client.check({.policy = "api", .key = "socket-user"});
    REQUIRE(decision.ok());
    CHECK(decision->allowed == (i < 5));
  }
  for (int i = 0; i < 2; ++i) {
    const auto decision = client.check({.policy = "trial", .key = "socket-user"});
    REQUIRE(decision.ok());
    CHECK(decision->allowed);
    CHECK(decision->shadow_denied == (i == 1));
  }
  REQUIRE(client.check({.policy = "api", .key = "gold-user", .tier = "gold"}).ok());
  // Over HTTP: 5 allowed and 1 denied on "api" for another key.
  for (int i = 0; i < 6; ++i) {
    const HttpResponse answer = http_request(port, "/v1/check/api?key=http-user");
    CAPTURE(answer.text());
    CHECK(answer.status == (i < 5 ? 200 : 429));
  }
  metrics.scrape();
  INFO("metrics:\n" << metrics.text());

  CHECK(metrics.delta(checks("api", "allowed")) == 5 + 1 + 5);
  CHECK(metrics.delta(checks("api", "denied")) == 2 + 1);
  CHECK(metrics.delta(checks("api", "shadow_denied")) == 0);
  CHECK(metrics.delta(checks("trial", "allowed")) == 1);
  CHECK(metrics.delta(checks("trial", "shadow_denied")) == 1);
  CHECK(metrics.delta(checks("trial", "denied")) == 0);
  CHECK(metrics.delta("drl_checks_tier_unknown_total") == 1);
  CHECK(metrics.delta("drl_requests_total{transport=\"socket\"}") == 7 + 2 + 1);
  CHECK(metrics.delta("drl_requests_total{transport=\"http\"}") == 6);
  // Every request is timed once, whichever transport it came by.
  CHECK(metrics.delta("drl_check_duration_seconds_count") == 7 + 2 + 1 + 6);
  CHECK(metrics.delta("drl_check_duration_seconds_sum") > 0);
  CHECK(metrics.value("drl_check_duration_seconds_bucket{le=\"+Inf\"}") ==
        metrics.value("drl_check_duration_seconds_count"));
  CHECK(metrics.delta("drl_http_responses_total{code=\"429\"}") == 1);
  // The five allowed checks, and the scrape before (counted once its answer was sent).
  CHECK(metrics.delta("drl_http_responses_total{code=\"200\"}") == 5 + 1);
  // The socket client's connection is open; the store holds a counter per (limit, key).
  CHECK(metrics.value("drl_connections_open") >= 1);
  CHECK(metrics.value("drl_keys_tracked") >= 4);
  CHECK(metrics.value("drl_config_generation") == 1);
}

TEST_CASE("metrics: refused requests are counted by error kind and HTTP status") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);
  Scraper metrics(port);
  metrics.scrape();

  drl::Client client = drld.connect();
  const auto unknown = client.check({.policy = "nope", .key = "k"});
  REQUIRE(!unknown.ok());
  CHECK(unknown.error().code == Errc::unknown_policy);
  CHECK(http_request(port, "/v1/check/nope?key=k").status == 404);
  CHECK(http_request(port, "/v1/check/api").status == 400);  // no key
  HttpRequestOptions put;
  put.method = "PUT";
  CHECK(http_request(port, "/v1/check/api?key=k", put).status == 405);
  metrics.scrape();
  INFO("metrics:\n" << metrics.text());

  CHECK(metrics.delta("drl_check_errors_total{kind=\"unknown_policy\"}") == 2);
  CHECK(metrics.delta("drl_check_errors_total{kind=\"malformed_request\"}") == 1);
  CHECK(metrics.delta("drl_http_responses_total{code=\"404\"}") == 1);
  CHECK(metrics.delta("drl_http_responses_total{code=\"400\"}") == 1);
  CHECK(metrics.delta("drl_http_responses_total{code=\"405\"}") == 1);
  CHECK(metrics.delta("drl_requests_total{transport=\"socket\"}") == 1);
  CHECK(metrics.delta("drl_requests_total{transport=\"http\"}") >= 2);
  CHECK(metrics.delta(checks("api", "allowed")) == 0);
  CHECK(metrics.delta(checks("api", "denied")) == 0);
}

TEST_CASE("metrics: a failed and a good reload are counted, and the generation moves") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  Scraper metrics(drld_http_port(drld));
  metrics.scrape();
  const std::string good = read_file(drld.config_path());

  replace_file(drld.config_path(), good + "\n[[policy]]\nname = \"broken\"\n");
  REQUIRE(wait_until(
      [&] {
        metrics.scrape();
        return metrics.value("drl_config_reloads_total{result=\"failed\"}") >= 1;
      },
      10s, 20ms));
  CHECK(metrics.value("drl_config_generation") == 1);
  // drl reload of the broken file fails too: a failed reload, not a failed check (it must not
  // raise DrlErrorRate, whose ratio is of drl_check_errors_total).
  const double failed_before = metrics.value("drl_config_reloads_total{result=\"failed\"}");
  CHECK(run_drl({"reload", "--socket", drld.socket_path()}).exit_code == 2);
  metrics.scrape();
  CHECK(metrics.value("drl_config_reloads_total{result=\"failed\"}") == failed_before + 1);
  CHECK(metrics.value("drl_check_errors_total{kind=\"reload_failed\"}") == 0);

  replace_file(drld.config_path(), good +
                                       "\n[[policy]]\nname = \"fine\"\nlimit = 1\n"
                                       "window = \"1s\"\n");
  REQUIRE(wait_until(
      [&] {
        metrics.scrape();
        return metrics.value("drl_config_reloads_total{result=\"ok\"}") >= 1;
      },
      10s, 20ms));
  CHECK(metrics.value("drl_config_generation") >= 2);
}

}  // namespace
}  // namespace drl::integration
