// [node] state_dir with real processes: counts kept across a clean stop, a kill -9 between saves
// and a whole cluster stopped at once; files that cannot be trusted (torn, corrupt, another
// node's) refused with a log line and a metric, and the node starting anyway; key resets and
// overrides saved with the counts, so that a restart does not bring back what a reset forgot.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>

#include "cluster_harness.hpp"
#include "http_harness.hpp"
#include "wire/state_file.hpp"

namespace drl::integration {
namespace {

constexpr std::uint64_t kLimit = 1000;

// An hour's window: every count of a test falls in one window (or, at worst, the previous one,
// which a sliding window still weighs; fixed windows are not used so a boundary cannot reset).
std::string policy() {
  return "[[policy]]\nname = \"api\"\nlimit = " + std::to_string(kLimit) +
         "\nwindow = \"1h\"\nalgorithm = \"sliding\"\n";
}

std::string node_config(const TempDir& dir, const std::string& id,
                        const std::string& save_interval = "1s") {
  return "[node]\nid = \"" + id + "\"\nsocket = \"@SOCKET@\"\nwatch_config = false\n" +
         "state_dir = \"" + dir.file("state") + "\"\nstate_save_interval = \"" + save_interval +
         "\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n" + policy();
}

// Counts `cost` on (api, key) and returns what remains after it.
std::uint64_t spend(DaemonProcess& drld, std::string_view key, std::uint32_t cost) {
  drl::Client client = drld.connect();
  const auto decision = client.check(drl::CheckRequest{"api", key, cost});
  REQUIRE(decision.ok());
  REQUIRE(decision->allowed);
  return decision->remaining;
}

// What remains of (api, key), without counting.
std::uint64_t remaining(DaemonProcess& drld, std::string_view key) {
  drl::Client client = drld.connect();
  const auto decision = client.check(drl::CheckRequest{"api", key, 0});
  REQUIRE(decision.ok());
  return decision->remaining;
}

double metric(DaemonProcess& drld, const std::string& series) {
  const HttpResponse answer = http_request(drld_http_port(drld), "/metrics");
  const std::map<std::string, double> values = parse_metrics(answer.body);
  const auto found = values.find(series);
  return found == values.end() ? -1 : found->second;
}

const wire::StateFileLimits kReadLimits{1024, 1 << 20, 1024};

// The total the state file holds now over every origin, or nothing if it cannot be read.
std::optional<std::uint64_t> saved_total(const std::string& path) {
  if (!path_exists(path)) return std::nullopt;
  const wire::DecodedStateFile decoded = wire::decode_state_file(read_file(path), kReadLimits);
  if (!decoded.counts) return std::nullopt;
  std::uint64_t total = 0;
  for (const core::SlotUpdate& count : decoded.counts->counts) total += count.count;
  return total;
}

// Node "solo" spends `cost` on (api, user-1) and stops cleanly: its state file holds that.
void save_after_spending(const TempDir& dir, std::uint32_t cost) {
  DaemonProcess first(dir, with_config(node_config(dir, "solo")));
  first.require_ready();
  spend(first, "user-1", cost);
  REQUIRE(first.stop() == 0);
}

}  // namespace

TEST_CASE("state_dir: counts made before a clean stop are all there after the restart") {
  TempDir dir;
  {
    DaemonProcess first(dir, with_config(node_config(dir, "solo")));
    first.require_ready();
    CHECK(spend(first, "user-1", 300) == kLimit - 300);
    REQUIRE(first.stop() == 0);
    INFO(first.log());
    CHECK(first.log().find("counts saved to " + dir.file("state/counts.state")) !=
          std::string::npos);
  }
  DaemonProcess second(dir, with_config(node_config(dir, "solo")));
  second.require_ready();
  INFO(second.log());
  CHECK(second.log().find("[node] state_dir: restored 1 count of 1 origin") != std::string::npos);
  CHECK(remaining(second, "user-1") == kLimit - 300);
  // The new run counts on top, in an origin of its own.
  CHECK(spend(second, "user-1", 1) == kLimit - 301);
  CHECK(metric(second, "drl_state_restored_counts{result=\"restored\"}") == 1);
  CHECK(second.status_uint("state_restored_counts") == 1);
}

TEST_CASE(
    "state_dir: a key reset and a key block are saved with the counts: after a restart the reset "
    "key still has its whole limit and the blocked key is still blocked") {
  TempDir dir;
  {
    DaemonProcess first(dir, with_config(node_config(dir, "solo")));
    first.require_ready();
    CHECK(spend(first, "user-1", 400) == kLimit - 400);
    CHECK(spend(first, "user-2", 10) == kLimit - 10);
    const CommandResult reset = run_drl(
        {"key", "reset", "--socket", first.socket_path(), "--policy", "api", "--key", "user-1"});
    REQUIRE_MESSAGE(reset.exit_code == 0, reset.err);
    CHECK(reset.out.find("forgot 400") != std::string::npos);
    const CommandResult block =
        run_drl({"override", "set", "--socket", first.socket_path(), "--policy", "api", "--key",
                 "user-2", "--block", "--ttl", "1h", "--reason", "abuse"});
    REQUIRE_MESSAGE(block.exit_code == 0, block.err);
    CHECK(remaining(first, "user-1") == kLimit);
    REQUIRE(first.stop() == 0);
  }
  DaemonProcess second(dir, with_config(node_config(dir, "solo")));
  second.require_ready();
  INFO(second.log());
  CHECK(second.log().find("and 2 override records") != std::string::npos);
  CHECK(metric(second, "drl_override_events_total{event=\"restored\"}") == 2);
  CHECK(metric(second, "drl_override_events_total{event=\"merged\"}") == 0);
  CHECK(second.log().find("key reset restored (this node's, from before it restarted): policy "
                          "'api', key 'user-1'") != std::string::npos);
  CHECK(second.log().find("override restored (this node's, from before it restarted): policy "
                          "'api', key 'user-2': block for ") != std::string::npos);
  CHECK(remaining(second, "user-1") == kLimit);  // the 400 are still forgotten
  drl::Client client = second.connect();
  const auto blocked = client.check(drl::CheckRequest{"api", "user-2"});
  REQUIRE(blocked.ok());
  CHECK_FALSE(blocked->allowed);
  CHECK(blocked->adjusted.find("abuse") != std::string::npos);
  const CommandResult listed = run_drl({"override", "list", "--socket", second.socket_path()});
  CHECK(listed.out.find("user-2") != std::string::npos);
  CHECK(listed.out.find("user-1") != std::string::npos);  // the reset, until its windows end
}

TEST_CASE("state_dir: a kill -9 loses at most what was counted since the last save") {
  TempDir dir;
  const std::string file = dir.file("state/counts.state");
  {
    DaemonProcess first(dir, with_config(node_config(dir, "solo", "100ms")));
    first.require_ready();
    spend(first, "user-1", 200);
    // Saved once the file holds the 200 (a save every 100 ms).
    REQUIRE(wait_until([&] { return saved_total(file) == 200u; }, 5s));
    spend(first, "user-1", 50);  // likely not saved before the kill
    first.kill_hard();
  }
  DaemonProcess second(dir, with_config(node_config(dir, "solo", "100ms")));
  second.require_ready();
  INFO(second.log());
  const std::uint64_t left = remaining(second, "user-1");
  CHECK(left <= kLimit - 200);
  CHECK(left >= kLimit - 250);
}

TEST_CASE("state_dir: a torn write is refused as truncated, kept aside, and the node starts") {
  TempDir dir;
  const std::string file = dir.file("state/counts.state");
  save_after_spending(dir, 100);
  const std::string whole = read_file(file);
  REQUIRE(whole.size() > wire::state_file_header_bytes + 4);
  replace_file(file, whole.substr(0, whole.size() - 3));

  DaemonProcess second(dir, with_config(node_config(dir, "solo")));
  second.require_ready();
  INFO(second.log());
  CHECK(second.log().find("refused (truncated") != std::string::npos);
  CHECK(path_exists(file + ".rejected"));
  CHECK(metric(second, "drl_state_files_refused_total{reason=\"truncated\"}") == 1);
  CHECK(remaining(second, "user-1") == kLimit);  // nothing it could not trust
  CHECK(spend(second, "user-1", 1) == kLimit - 1);
}

TEST_CASE("state_dir: a corrupt byte, a stranger's file and another node's file are refused") {
  TempDir dir;
  const std::string file = dir.file("state/counts.state");
  save_after_spending(dir, 100);
  const std::string whole = read_file(file);
  struct Case {
    std::string name;
    std::string bytes;
    std::string node_id;
    std::string reason;
  };
  std::string flipped = whole;
  flipped[flipped.size() - 2] = static_cast<char>(flipped[flipped.size() - 2] ^ 0x40);
  const Case cases[] = {
      {"a flipped byte", flipped, "solo", "corrupt"},
      {"another program's file", "#!/bin/sh\necho hello\n", "solo", "not_a_state_file"},
      {"another node's file", whole, "other", "foreign"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    replace_file(file, c.bytes);
    DaemonProcess drld(dir, with_config(node_config(dir, c.node_id)));
    drld.require_ready();
    INFO(drld.log());
    CHECK(drld.log().find("refused (" + c.reason) != std::string::npos);
    CHECK(metric(drld, "drl_state_files_refused_total{reason=\"" + c.reason + "\"}") == 1);
    CHECK(remaining(drld, "user-1") == kLimit);
    drld.kill_hard();
  }
}

TEST_CASE("state_dir: a second drld on the same state_dir exits 1 instead of overwriting it") {
  TempDir dir;
  DaemonProcess first(dir, with_config(node_config(dir, "first")));
  first.require_ready();
  DaemonOptions options = with_config(node_config(dir, "second"));
  options.name = "second";
  DaemonProcess second(dir, options);
  REQUIRE(second.wait_exit(10s) == 1);
  INFO(second.log());
  CHECK(second.log().find("is locked by another process (pid " + std::to_string(first.pid()) +
                          "): each drld needs a state_dir of its own") != std::string::npos);
  CHECK(spend(first, "user-1", 1) == kLimit - 1);
}

TEST_CASE("state_dir: a whole cluster stopped and started keeps its counts") {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = 3;
  spec.cluster_settings = "gossip_interval = \"5ms\"\n";
  spec.node_settings = "state_dir = \"" + dir.file("@ID@-state") + "\"\n";
  spec.policies = policy();
  Cluster cluster(dir, spec);
  cluster.start();
  REQUIRE(cluster.wait_until_connected(10s));
  for (std::size_t i = 0; i < cluster.size(); ++i) spend(cluster.node(i), "user-1", 100);
  // Every node has every node's counts before the stop.
  REQUIRE(wait_until(
      [&] {
        for (std::size_t i = 0; i < cluster.size(); ++i) {
          if (remaining(cluster.node(i), "user-1") != kLimit - 300) return false;
        }
        return true;
      },
      5s));
  for (std::size_t i = 0; i < cluster.size(); ++i) cluster.node(i).send_signal(SIGTERM);
  for (std::size_t i = 0; i < cluster.size(); ++i) REQUIRE(cluster.node(i).wait_exit(10s) == 0);

  for (std::size_t i = 0; i < cluster.size(); ++i) cluster.start_node(i);
  INFO(cluster.logs());
  // Each node has them from its own file, before any peer could send them.
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    CHECK(cluster.node(i).log().find("[node] state_dir: restored 3 counts of 3 origins") !=
          std::string::npos);
    CHECK(remaining(cluster.node(i), "user-1") == kLimit - 300);
  }
  // And the peers' copies of the same counts, merged on top, count nothing twice.
  REQUIRE(cluster.wait_until_connected(10s));
  spend(cluster.node(0), "user-1", 1);
  CHECK(wait_until([&] { return remaining(cluster.node(1), "user-1") == kLimit - 301; }, 5s));
  CHECK(remaining(cluster.node(2), "user-1") <= kLimit - 300);
}

}  // namespace drl::integration
