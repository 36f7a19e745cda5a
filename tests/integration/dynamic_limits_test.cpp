// Dynamic limits on real processes: an override set with `drl override set` on one node is in
// force on every node within a bound, comes back to a node restarted after kill -9 (from its
// peers), ends everywhere with `drl override clear` or by itself at its TTL; a reported load
// signal above its target lowers an adaptive policy's limit, and /metrics shows the factor. Per-key
// control: `drl override set --key` and `drl key reset` in force on every node, measured, and a
// reset that holds when a restarted node is handed the old counts again.
#include <doctest/doctest.h>
#include <chrono>
#include <functional>
#include <thread>

#include <algorithm>
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
  REQUIRE_MESSAGE(decision.ok(), (decision.ok() ? "" : decision.error().message));
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

// What a node says about (policy, key) now, counting nothing.
drl::Decision peek_key(const DaemonProcess& node, std::string_view key) {
  drl::Client client = node.connect();
  const auto decision = client.check(drl::CheckRequest{"api", key, 0});
  REQUIRE_MESSAGE(decision.ok(), (decision.ok() ? "" : decision.error().message));
  return decision.value();
}

// Until every node but `from` satisfies `holds` for `key`: the milliseconds it took, or -1.
double spread_ms(Cluster& cluster, std::size_t from, std::string_view key,
                 const std::function<bool(const drl::Decision&)>& holds) {
  const auto began = std::chrono::steady_clock::now();
  const bool reached = wait_until(
      [&] {
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          if (i != from && !holds(peek_key(cluster.node(i), key))) return false;
        }
        return true;
      },
      kSpreadBound, 1ms);
  if (!reached) return -1;
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
      .count();
}

std::string spread_summary(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return "median " + std::to_string(ms[ms.size() / 2]) + " ms, max " + std::to_string(ms.back()) +
         " ms over " + std::to_string(ms.size());
}

}  // namespace

TEST_CASE(
    "key control: a key override and a key reset set on one node are in force on the others "
    "within the bound (measured), a block denies until its TTL, and a reset holds when a "
    "restarted node is handed the old counts again") {
  TempDir dir;
  Cluster cluster(dir, spec());
  cluster.start();
  INFO("logs:\n" << cluster.logs());
  REQUIRE(cluster.wait_until_connected(10s));

  // Spread, measured: each round sets a key override on one node, then resets a key counted
  // there, and times until the other two answer with it.
  std::vector<double> override_ms;
  std::vector<double> reset_ms;
  for (int round = 0; round < 9; ++round) {
    const std::size_t from = static_cast<std::size_t>(round % 3);
    drl::Client client = cluster.node(from).connect();
    const std::string limited = "limited-" + std::to_string(round);
    drl::OverrideSpec limit;
    limit.scope.policy = "api";
    limit.scope.key = limited;
    limit.limit = 3;
    limit.ttl_ms = 600'000;
    REQUIRE(client.override_set(limit).ok());
    CHECK(peek_key(cluster.node(from), limited).limit == 3);  // at once where it was set
    override_ms.push_back(spread_ms(cluster, from, limited, [](const drl::Decision& d) {
      return d.limit == 3 && d.adjusted.find("key override limit 3") != std::string::npos;
    }));
    CHECK(override_ms.back() >= 0);

    const std::string counted = "counted-" + std::to_string(round);
    for (int i = 0; i < 40; ++i) REQUIRE(client.check(drl::CheckRequest{"api", counted})->allowed);
    REQUIRE(spread_ms(cluster, from, counted,
                      [](const drl::Decision& d) { return d.remaining == 60; }) >= 0);
    const auto reset = client.key_reset(drl::OverrideScopeSpec{"api", "", "", 0, counted}, "test");
    REQUIRE_MESSAGE(reset.ok(), (reset.ok() ? "" : reset.error().message));
    CHECK(reset->kind == "reset");
    REQUIRE(reset->forgotten.size() == 1);
    CHECK(reset->forgotten[0].count == 40);
    CHECK(peek_key(cluster.node(from), counted).remaining == 100);
    reset_ms.push_back(spread_ms(cluster, from, counted,
                                 [](const drl::Decision& d) { return d.remaining == 100; }));
    CHECK(reset_ms.back() >= 0);
  }
  MESSAGE("key override in force on the other two nodes: " << spread_summary(override_ms));
  MESSAGE("key reset in force on the other two nodes: " << spread_summary(reset_ms));

  // A block denies every check of the key, on every node, with the block's end as the wait.
  const CommandResult blocked =
      run_drl({"override", "set", "--socket", cluster.socket_path(2), "--policy", "api", "--key",
               "abuser", "--block", "--ttl", "10m", "--reason", "ticket 9"});
  REQUIRE_MESSAGE(blocked.exit_code == 0, blocked.err);
  CHECK(blocked.out.find("key=abuser  block") != std::string::npos);
  CHECK(spread_ms(cluster, 2, "abuser", [](const drl::Decision& d) {
          return !d.allowed && d.retry_after_ms > 590'000;
        }) >= 0);
  CHECK(peek_key(cluster.node(0), "someone-else").allowed);
  const CommandResult listed = run_drl({"override", "list", "--socket", cluster.socket_path(0)});
  CHECK(listed.out.find("abuser") != std::string::npos);
  CHECK(listed.out.find("ticket 9") != std::string::npos);
  CHECK(run_drl({"status", "--socket", cluster.socket_path(1)}).out.find("abuser") !=
        std::string::npos);
  // --all clears every override: with a scope, it is refused rather than read as --all.
  const CommandResult ambiguous = run_drl(
      {"override", "clear", "--socket", cluster.socket_path(0), "--all", "--key", "abuser"});
  CHECK(ambiguous.exit_code != 0);
  CHECK(ambiguous.err.find("--all alone") != std::string::npos);
  REQUIRE(run_drl({"override", "clear", "--socket", cluster.socket_path(0), "--policy", "api",
                   "--key", "abuser"})
              .exit_code == 0);
  CHECK(spread_ms(cluster, 0, "abuser", [](const drl::Decision& d) { return d.allowed; }) >= 0);
  CHECK(peek_key(cluster.node(0), "abuser").allowed);

  // n2 counts a key to its limit; `drl key reset` on n1 forgets it everywhere. Then n2 is killed
  // and restarted: its peers hand it the old counts again (its former incarnation's), which the
  // reset must keep forgetting, on every node.
  {
    drl::Client client = cluster.node(1).connect();
    for (int i = 0; i < 100; ++i) REQUIRE(client.check(drl::CheckRequest{"api", "heavy"})->allowed);
    CHECK_FALSE(client.check(drl::CheckRequest{"api", "heavy"})->allowed);
  }
  REQUIRE(spread_ms(cluster, 1, "heavy", [](const drl::Decision& d) { return d.remaining == 0; }) >=
          0);
  const CommandResult reset =
      run_drl({"key", "reset", "--socket", cluster.socket_path(0), "--policy", "api", "--key",
               "heavy", "--reason", "ticket 10"});
  REQUIRE_MESSAGE(reset.exit_code == 0, reset.err);
  CHECK(reset.out.find("forgot 100 of 100/") != std::string::npos);
  // In force until its windows end: listed with the overrides, and in the status.
  const CommandResult listed_reset =
      run_drl({"override", "list", "--socket", cluster.socket_path(0)});
  CHECK(listed_reset.out.find("heavy") != std::string::npos);
  CHECK(listed_reset.out.find("reset") != std::string::npos);
  const std::string status = run_drl({"status", "--socket", cluster.socket_path(0)}).out;
  CHECK(status.find("key_resets (") != std::string::npos);
  CHECK(status.find("heavy") != std::string::npos);
  const CommandResult inspected =
      run_drl({"inspect", "--socket", cluster.socket_path(0), "--policy", "api", "--key", "heavy"});
  CHECK(inspected.out.find("key reset in force: forgets previous=") != std::string::npos);
  // An empty --key would mean every key: refused.
  const CommandResult empty_key =
      run_drl({"override", "set", "--socket", cluster.socket_path(0), "--policy", "api", "--key",
               "", "--limit", "2", "--ttl", "1m"});
  CHECK(empty_key.exit_code != 0);
  CHECK(empty_key.err.find("--key is empty") != std::string::npos);
  const CommandResult unknown_tier =
      run_drl({"key", "reset", "--socket", cluster.socket_path(0), "--policy", "api", "--key",
               "heavy", "--tier", "platinum"});
  CHECK(unknown_tier.exit_code != 0);
  CHECK(unknown_tier.err.find("has no tier 'platinum'") != std::string::npos);
  CHECK(spread_ms(cluster, 0, "heavy", [](const drl::Decision& d) { return d.remaining == 100; }) >=
        0);
  cluster.kill(1);
  cluster.start_node(1);
  REQUIRE(cluster.wait_until_connected(10s));
  // Long enough for full syncs both ways (the restarted node's own, its peers' anti-entropy).
  std::this_thread::sleep_for(1500ms);
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(peek_key(cluster.node(i), "heavy").remaining == 100);
  }
  CHECK(cluster.logs().find("key reset: policy 'api', key 'heavy': forgot 100 of 100/") !=
        std::string::npos);
  CHECK(cluster.logs().find("key reset received: policy 'api', key '") != std::string::npos);
}

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
