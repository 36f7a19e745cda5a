// libdrl's drl::Client against a real drld running the embedded default config:
//   demo: 5 per 10 s sliding; api: 100 per minute (pro tier 1000, "POST /login" 5 per minute).
#include <doctest/doctest.h>

#include <array>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

// The remaining count of (policy, key) by a peek, which counts nothing.
std::uint64_t peek_remaining(drl::Client& client, std::string_view policy, std::string_view key) {
  const auto peek = client.check(drl::CheckRequest{policy, key, 0});
  if (!peek.ok()) throw std::runtime_error("peek failed: " + peek.error().message);
  return peek->remaining;
}

TEST_CASE("client: check allows five on policy demo, then denies with a retry_after_ms") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  drl::Client client = drld.connect();
  for (std::uint64_t i = 0; i < 5; ++i) {
    const auto decision = client.check(drl::CheckRequest{"demo", "dave"});
    REQUIRE(decision.ok());
    CHECK(decision->allowed);
    CHECK(decision->limit == 5);
    CHECK(decision->window_ms == 10'000);
    CHECK(decision->remaining == 4 - i);
    CHECK(decision->retry_after_ms == 0);
  }
  const auto denied = client.check(drl::CheckRequest{"demo", "dave"}, true);
  REQUIRE(denied.ok());
  CHECK_FALSE(denied->allowed);
  CHECK(denied->remaining == 0);
  CHECK(denied->retry_after_ms > 0);
  CHECK(denied->retry_after_ms <= 20'000);
  REQUIRE(denied->limits.size() == 1);
  CHECK(denied->limits[0].policy == "demo");
  CHECK(denied->limits[0].algorithm == "sliding");
  CHECK_FALSE(denied->limits[0].allowed);

  // Request-level errors come back as errors and leave the connection usable.
  const auto unknown = client.check(drl::CheckRequest{"nonesuch", "dave"});
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == drl::Errc::unknown_policy);
  const auto too_costly = client.check(drl::CheckRequest{"demo", "erin", 6});
  REQUIRE_FALSE(too_costly.ok());
  CHECK(too_costly.error().code == drl::Errc::cost_above_limit);
  CHECK(peek_remaining(client, "demo", "erin") == 5);
}

TEST_CASE(
    "client: check_all admits only if both policies admit, and a denied compound check "
    "counts nowhere") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  drl::Client client = drld.connect();

  // demo (5) binds before api (100): five compound checks pass, and count in both.
  const std::array<drl::CheckRequest, 2> both{drl::CheckRequest{"demo", "frank"},
                                              drl::CheckRequest{"api", "frank"}};
  for (int i = 0; i < 5; ++i) {
    const auto decision = client.check_all(both);
    REQUIRE(decision.ok());
    CHECK(decision->allowed);
  }
  const auto denied = client.check_all(both, true);
  REQUIRE(denied.ok());
  CHECK_FALSE(denied->allowed);
  CHECK(denied->limit == 5);  // the binding limit is demo's
  CHECK(denied->retry_after_ms > 0);
  CHECK(denied->limits.size() == 2);
  // The denied sixth counted in neither: api saw exactly five.
  CHECK(peek_remaining(client, "api", "frank") == 95);
  CHECK(peek_remaining(client, "demo", "frank") == 0);

  // The first item admits, the second does not: nothing is counted for the first either.
  for (int i = 0; i < 5; ++i) REQUIRE(client.check(drl::CheckRequest{"demo", "grace"})->allowed);
  const std::array<drl::CheckRequest, 2> api_first{drl::CheckRequest{"api", "grace"},
                                                   drl::CheckRequest{"demo", "grace"}};
  for (int i = 0; i < 3; ++i) {
    const auto decision = client.check_all(api_first);
    REQUIRE(decision.ok());
    CHECK_FALSE(decision->allowed);
  }
  CHECK(peek_remaining(client, "api", "grace") == 100);
}

TEST_CASE(
    "client: check_batch answers every check in order, with a per-check error for an "
    "unknown policy") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  drl::Client client = drld.connect();
  // Independent checks: each one counts on its own, in order.
  const std::array<drl::CheckRequest, 8> checks{
      drl::CheckRequest{"demo", "heidi"},     drl::CheckRequest{"demo", "heidi"},
      drl::CheckRequest{"nonesuch", "heidi"}, drl::CheckRequest{"demo", "heidi"},
      drl::CheckRequest{"demo", "heidi"},     drl::CheckRequest{"demo", "heidi"},
      drl::CheckRequest{"demo", "heidi"},     drl::CheckRequest{"api", "heidi", 1, "pro"}};
  const auto results = client.check_batch(checks);
  REQUIRE(results.ok());
  REQUIRE(results->size() == checks.size());
  const auto& r = results.value();
  std::uint64_t expected_remaining = 4;
  for (std::size_t i : {0, 1, 3, 4, 5}) {
    CAPTURE(i);
    REQUIRE(r[i].ok());
    CHECK(r[i]->allowed);
    CHECK(r[i]->remaining == expected_remaining--);
  }
  REQUIRE_FALSE(r[2].ok());
  CHECK(r[2].error().code == drl::Errc::unknown_policy);
  REQUIRE(r[6].ok());
  CHECK_FALSE(r[6]->allowed);
  REQUIRE(r[7].ok());
  CHECK(r[7]->allowed);
  CHECK(r[7]->limit == 1000);  // the pro tier's limit
  CHECK(peek_remaining(client, "demo", "heidi") == 0);
}

TEST_CASE("client: 120 pipelined checks are answered in the order they were sent") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  drl::Client client = drld.connect();
  constexpr int kChecks = 120;
  std::uint64_t previous_id = 0;
  for (int i = 0; i < kChecks; ++i) {
    const auto id = client.send_check(drl::CheckRequest{"api", "ivan"});
    REQUIRE(id.ok());
    CHECK(id.value() > previous_id);
    previous_id = id.value();
  }
  // api allows 100: the answers, in order, count down 99 .. 0 and then deny.
  for (int i = 0; i < kChecks; ++i) {
    CAPTURE(i);
    const auto decision = client.receive_decision();
    REQUIRE(decision.ok());
    if (i < 100) {
      CHECK(decision->allowed);
      CHECK(decision->remaining == static_cast<std::uint64_t>(99 - i));
    } else {
      CHECK_FALSE(decision->allowed);
      CHECK(decision->retry_after_ms > 0);
    }
  }
  // The connection is in step again: a plain round trip works.
  const auto pong = client.ping();
  CHECK(pong.ok());
}

TEST_CASE("client: ping names the server version and status() reports the node's counters") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  drl::Client client = drld.connect();
  const auto pong = client.ping();
  REQUIRE(pong.ok());
  CHECK(pong.value().rfind("drld ", 0) == 0);

  REQUIRE(client.check(drl::CheckRequest{"demo", "judy"}).ok());
  REQUIRE(client.check(drl::CheckRequest{"demo", "judy", 5}).ok());  // denied: 1 + 5 > 5
  const auto status = client.status();
  REQUIRE(status.ok());
  std::map<std::string, std::string> fields(status->fields.begin(), status->fields.end());
  CHECK(fields["pid"] == std::to_string(drld.pid()));
  CHECK(fields["config_generation"] == "1");
  CHECK(fields["config_path"] == "(embedded default)");
  CHECK(fields["policies"] == "2");
  CHECK(fields["checks_allowed"] == "1");
  CHECK(fields["checks_denied"] == "1");
  CHECK(fields["keys_tracked"] == "1");
  CHECK_FALSE(fields["node_id"].empty());
  CHECK(std::stoull(fields["connections_open"]) >= 1);

  const auto json = client.status_json();
  REQUIRE(json.ok());
  CHECK(json_uint(json.value(), "checks_allowed") == 1);
}

TEST_CASE(
    "client: eight clients checking one key at once are admitted exactly limit times in "
    "total") {
  TempDir dir;
  DaemonProcess drld(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nworkers = 4\n\n"
                                      "[[policy]]\nname = \"p\"\nlimit = 1000\n"
                                      "window = \"1h\"\n"));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  constexpr int kClients = 8;
  constexpr int kChecksEach = 200;  // 1600 in all, for a limit of 1000
  std::vector<drl::Client> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(drld.connect());
  std::array<int, kClients> allowed{};
  std::array<int, kClients> failed{};
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < kChecksEach; ++n) {
        const auto decision = clients[i].check(drl::CheckRequest{"p", "shared"});
        if (!decision.ok()) {
          ++failed[i];
        } else if (decision->allowed) {
          ++allowed[i];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  int total_allowed = 0;
  int total_failed = 0;
  for (int i = 0; i < kClients; ++i) {
    total_allowed += allowed[i];
    total_failed += failed[i];
  }
  CHECK(total_failed == 0);
  CHECK(total_allowed == 1000);
  CHECK(drld.status_uint("checks_allowed") == 1000);
  CHECK(drld.status_uint("checks_denied") == kClients * kChecksEach - 1000);
}

}  // namespace
}  // namespace drl::integration
