// Dynamic limits on real processes: an override set with `drl override set` on one node is in
// force on every node within a bound, comes back to a node restarted after kill -9 (from its
// peers), ends everywhere with `drl override clear` or by itself at its TTL; a reported load
// signal above its target lowers an adaptive policy's limit, and /metrics shows the factor.
#include <doctest/doctest.h>
#include <chrono>

#include <cmath>

#include "cluster_harness.hpp"
#include "http_harness.hpp"

namespace drl::integration {
namespace {

// Gossip every 5 ms; the bound is generous for a shared 2-core VM, where a process may not be
// scheduled for a while, yet far below what a broken replication (never) would take.
constexpr Millis kSpreadBound = 3s;

constexpr std::string_view kClusterSettings =
    "gossip_interval = \"5ms\"\nheartbeat_interval = \"50ms\"\nsuspect_after = \"400ms\"\n"
    "down_after = \"600ms\"\n";

// [http] on a port of its own per node (port 0), then the policies.
constexpr std::string_view kPolicies = R"(
[http]
listen = "127.0.0.1:0"

[[policy]]
name = "api"
limit = 100
window = "1h"
algorithm = "fixed"

[[policy]]
name = "load"
limit = 1000
window = "1m"

[policy.adaptive]
signal = "reported:queue_depth"
target = 10
floor_at = 110
floor = 0.2
smoothing = "100ms"
recover = "1s"
)";

// What a node says about (policy, key) now, counting nothing.
drl::Decision peek(const DaemonProcess& node, std::string_view policy) {
  drl::Client client = node.connect();
  const auto decision = client.check(drl::CheckRequest{policy, "k", 0});
  REQUIRE_MESSAGE(decision.ok(), decision.error().message);
  return decision.value();
}

// Until every node in `nodes` answers `limit` for `policy` (and says it is adjusted iff
// `adjusted`); false at the deadline.
bool wait_for_limit(Cluster& cluster, const std::vector<std::size_t>& nodes,
                    std::string_view policy, std::uint64_t limit, bool adjusted,
                    Millis timeout = kSpreadBound, Millis poll = 10ms) {
  return wait_until(
      [&] {
        for (std::size_t i : nodes) {
          const drl::Decision decision = peek(cluster.node(i), policy);
          if (decision.limit != limit || decision.adjusted.empty() == adjusted) return false;
        }
        return true;
      },
      timeout, poll);
}

std::string describe(Cluster& cluster, std::string_view policy) {
  std::string out;
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (!cluster.running(i)) continue;
    const drl::Decision decision = peek(cluster.node(i), policy);
    out += cluster.id(i) + ": limit " + std::to_string(decision.limit) + " configured " +
           std::to_string(decision.configured_limit) + " adjusted '" + decision.adjusted + "'\n";
  }
  return out;
}

ClusterSpec spec() {
  ClusterSpec out;
  out.cluster_settings = std::string(kClusterSettings);
  out.policies = std::string(kPolicies);
  return out;
}

}  // namespace

TEST_CASE(
    "dynamic limits: an override set on n1 is in force on n2 and n3 within the bound, comes back "
    "to n2 after kill -9 and restart, and ends everywhere when cleared or at its TTL") {
  TempDir dir;
  Cluster cluster(dir, spec());
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s));
  const std::vector<std::size_t> all{0, 1, 2};
  CHECK(peek(cluster.node(1), "api").limit == 100);

  const CommandResult set =
      run_drl({"override", "set", "--socket", cluster.socket_path(0), "--policy", "api", "--limit",
               "7", "--ttl", "10m", "--reason", "integration test"});
  REQUIRE_MESSAGE(set.exit_code == 0, set.err);
  CHECK(set.out.find("limit 7") != std::string::npos);
  // At once on the node it was set on ...
  const drl::Decision local = peek(cluster.node(0), "api");
  CHECK(local.limit == 7);
  CHECK(local.configured_limit == 100);
  CHECK(local.adjusted.find("integration test") != std::string::npos);
  // ... and within the bound on the others, saying which limit is in force and why.
  const auto spread_began = std::chrono::steady_clock::now();
  CHECK_MESSAGE(wait_for_limit(cluster, {1, 2}, "api", 7, true, kSpreadBound, 1ms),
                describe(cluster, "api"));
  MESSAGE(
      "the override was in force on n2 and n3 "
      << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - spread_began)
             .count()
      << " ms after drl override set returned on n1");
  const drl::Decision remote = peek(cluster.node(2), "api");
  CHECK(remote.configured_limit == 100);
  CHECK(remote.adjusted.find("by n1") != std::string::npos);
  // The checks enforce it: the eighth check on n3 within the hour is denied.
  {
    drl::Client client = cluster.node(2).connect();
    for (int i = 0; i < 7; ++i) CHECK(client.check(drl::CheckRequest{"api", "enforced"})->allowed);
    CHECK_FALSE(client.check(drl::CheckRequest{"api", "enforced"})->allowed);
  }

  // kill -9 of n2 loses its table; its peers hand the override back when it rejoins.
  cluster.kill(1);
  cluster.start_node(1);
  CHECK_MESSAGE(wait_for_limit(cluster, {1}, "api", 7, true, 5s), describe(cluster, "api"));
  const CommandResult listed = run_drl({"override", "list", "--socket", cluster.socket_path(1)});
  REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
  CHECK(listed.out.find("limit 7") != std::string::npos);
  CHECK(listed.out.find("n1") != std::string::npos);
  CHECK(listed.out.find("integration test") != std::string::npos);

  // Cleared on n3: gone everywhere.
  const CommandResult cleared =
      run_drl({"override", "clear", "--socket", cluster.socket_path(2), "--policy", "api"});
  REQUIRE_MESSAGE(cleared.exit_code == 0, cleared.err);
  CHECK(cleared.out.find("cleared 1 override") != std::string::npos);
  CHECK_MESSAGE(wait_for_limit(cluster, all, "api", 100, false), describe(cluster, "api"));
  CHECK(
      run_drl({"override", "list", "--socket", cluster.socket_path(0)}).out.find("no overrides") !=
      std::string::npos);

  // A short TTL ends by itself, on every node, with nobody clearing it.
  const CommandResult brief = run_drl({"override", "set", "--socket", cluster.socket_path(1),
                                       "--policy", "api", "--factor", "0.5", "--ttl", "1500ms"});
  REQUIRE_MESSAGE(brief.exit_code == 0, brief.err);
  CHECK_MESSAGE(wait_for_limit(cluster, all, "api", 50, true), describe(cluster, "api"));
  CHECK_MESSAGE(wait_for_limit(cluster, all, "api", 100, false, 5s), describe(cluster, "api"));
  for (std::size_t i : all) {
    CHECK(node_status(cluster.node(i)).uint("overrides_active") == 0);
  }
  CHECK(node_status(cluster.node(1)).uint("overrides_expired") >= 1);

  // A refused override says why and changes nothing.
  const CommandResult refused = run_drl({"override", "set", "--socket", cluster.socket_path(0),
                                         "--policy", "nope", "--limit", "1", "--ttl", "1m"});
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("unknown_policy: unknown policy 'nope' (policies: ") != std::string::npos);
}

TEST_CASE(
    "dynamic limits: a reported load signal above its target lowers an adaptive policy's limit "
    "toward its floor, /metrics shows the factor, and the limit recovers when the signal falls") {
  TempDir dir;
  Cluster cluster(dir, spec());
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  const DaemonProcess& node = cluster.node(0);
  CHECK(peek(node, "load").limit == 1000);

  // Far above floor_at: the factor goes to the floor, 0.2. Reported on every sample, as an
  // application would, so that the signal never goes stale.
  const auto report = [&](const char* value) {
    const CommandResult reported =
        run_drl({"report", "--socket", node.socket_path(), "queue_depth", value});
    REQUIRE_MESSAGE(reported.exit_code == 0, reported.err);
  };
  const bool lowered = wait_until(
      [&] {
        report("500");
        return peek(node, "load").limit == 200;
      },
      5s, 50ms);
  CHECK_MESSAGE(lowered, describe(cluster, "load"));
  const drl::Decision decision = peek(node, "load");
  CHECK(decision.configured_limit == 1000);
  CHECK(decision.adjusted.find("reported:queue_depth") != std::string::npos);
  // The factor is the node's own: the other nodes' applications did not report a load.
  CHECK(peek(cluster.node(1), "load").limit == 1000);

  const std::map<std::string, double> metrics =
      parse_metrics(http_request(drld_http_port(node), "/metrics").body);
  INFO(http_request(drld_http_port(node), "/metrics").body);
  REQUIRE(metrics.count("drl_adaptive_factor{policy=\"load\"}") == 1);
  CHECK(std::abs(metrics.at("drl_adaptive_factor{policy=\"load\"}") - 0.2) < 1e-9);
  REQUIRE(metrics.count("drl_load_reported_value{name=\"queue_depth\"}") == 1);
  CHECK(metrics.at("drl_load_reported_value{name=\"queue_depth\"}") == 500);
  CHECK(metrics.count("drl_load_loop_lag_seconds") == 1);
  CHECK(metrics.at("drl_load_signal_reports_total{result=\"recorded\"}") >= 1);

  // The HTTP decision endpoint says it too.
  const HttpResponse answer = http_request(drld_http_port(node), "/v1/check/load?key=h&cost=0");
  CHECK(answer.header("Drl-Adjusted").value_or("").find("configured=1000") != std::string::npos);
  CHECK(answer.body.find("\"configured_limit\":1000") != std::string::npos);

  // Below the target: back to the configured limit (recover = 1s from the floor to 1).
  const bool recovered = wait_until(
      [&] {
        report("1");
        return peek(node, "load").limit == 1000;
      },
      5s, 50ms);
  CHECK_MESSAGE(recovered, describe(cluster, "load"));
  CHECK(peek(node, "load").adjusted.empty());
}

}  // namespace drl::integration
