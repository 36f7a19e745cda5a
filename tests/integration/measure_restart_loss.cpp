// Measures what a whole cluster forgets when every node stops at once and starts again with
// [node] state_dir, for the table in docs/operations.md ("State directory"). Checks go
// round-robin over the nodes and over a set of keys at a steady rate, under a limit no check
// reaches (so every answered check is counted); at a random moment of the save cycle every node
// is stopped (SIGKILL: a crash or a power cut; or SIGTERM: a clean stop), then all are started
// again and the counts they hold are compared with the checks that were answered.
//
//   build/tests/integration/measure_restart_loss [--nodes 3] [--rate 2000] [--keys 50]
//       [--save-interval 1s,100ms] [--stop kill,term] [--runs 5] [--seed 1]
//
// One Markdown row per run; "lost (ms of checks)" is the loss divided by the rate, to compare
// with the save interval. drld is taken from $DRLD, else from the build tree it was built with.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cluster_harness.hpp"

namespace {

using namespace drl::integration;

constexpr std::uint64_t kLimit = 4'000'000'000ULL;

int usage() {
  std::fprintf(stderr,
               "usage: measure_restart_loss [--nodes N] [--rate CHECKS_PER_S] [--keys K] "
               "[--save-interval LIST] [--stop kill,term] [--runs R] [--seed S]\n");
  return 2;
}

std::string key_name(std::size_t i) {
  return "user-" + std::to_string(i);
}

// What the node holds for (api, key): the limit minus what remains.
std::uint64_t counted(DaemonProcess& node, const std::string& key) {
  drl::Client client = node.connect();
  const auto decision = client.check(drl::CheckRequest{"api", key, 0});
  if (!decision.ok()) throw std::runtime_error("peek failed: " + decision.error().message);
  return kLimit - decision->remaining;
}

struct RunResult {
  std::uint64_t answered = 0;
  std::uint64_t restored = 0;
  std::int64_t stopped_after_ms = 0;
};

RunResult run_once(std::size_t nodes, double rate, std::size_t keys, const std::string& interval,
                   bool kill, std::mt19937_64& random) {
  TempDir dir;
  ClusterSpec spec;
  spec.nodes = nodes;
  spec.cluster_settings = "gossip_interval = \"5ms\"\n";
  spec.node_settings = "state_dir = \"" + dir.file("@ID@-state") + "\"\nstate_save_interval = \"" +
                       interval + "\"\n";
  spec.policies = "[[policy]]\nname = \"api\"\nlimit = " + std::to_string(kLimit) +
                  "\nwindow = \"1h\"\nalgorithm = \"sliding\"\n";
  Cluster cluster(dir, spec);
  cluster.start();
  if (!cluster.wait_until_connected(10s)) throw std::runtime_error("not connected");

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> answered{0};
  std::thread load([&] {
    std::vector<drl::Client> clients;
    for (std::size_t i = 0; i < nodes; ++i) clients.push_back(cluster.node(i).connect());
    const auto gap = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t n = 0; !stop.load(); ++n) {
      const std::string key = key_name(n % keys);
      const auto decision = clients[n % nodes].check(drl::CheckRequest{"api", key, 1});
      if (decision.ok() && decision->allowed) answered.fetch_add(1);
      next += gap;
      std::this_thread::sleep_until(next);
    }
  });
  // At least two save intervals of load, then a random phase of the save cycle.
  const std::int64_t interval_ms = static_cast<std::int64_t>(
      interval.ends_with("ms") ? std::stoll(interval) : std::stoll(interval) * 1000);
  const std::int64_t stop_after_ms =
      std::max<std::int64_t>(2000, 2 * interval_ms) +
      std::uniform_int_distribution<std::int64_t>(0, interval_ms)(random);
  std::this_thread::sleep_for(Millis(stop_after_ms));
  for (std::size_t i = 0; i < nodes; ++i) cluster.node(i).send_signal(kill ? SIGKILL : SIGTERM);
  for (std::size_t i = 0; i < nodes; ++i) cluster.node(i).wait_exit(10s);
  stop.store(true);
  load.join();

  for (std::size_t i = 0; i < nodes; ++i) cluster.start_node(i);
  if (!cluster.wait_until_connected(10s)) throw std::runtime_error("not connected again");
  // Until every node agrees on every key (peers' files merged by gossip).
  std::uint64_t total = 0;
  const bool agreed = wait_until(
      [&] {
        total = 0;
        for (std::size_t k = 0; k < keys; ++k) {
          const std::uint64_t first = counted(cluster.node(0), key_name(k));
          for (std::size_t i = 1; i < nodes; ++i) {
            if (counted(cluster.node(i), key_name(k)) != first) return false;
          }
          total += first;
        }
        return true;
      },
      10s, 50ms);
  if (!agreed) throw std::runtime_error("the nodes did not agree after the restart");
  return RunResult{answered.load(), total, stop_after_ms};
}

}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("DRLD") == nullptr) ::setenv("DRLD", DRLD_BUILD_PATH, 1);
  std::size_t nodes = 3;
  double rate = 2000;
  std::size_t keys = 50;
  std::vector<std::string> intervals{"1s", "100ms"};
  std::vector<std::string> stops{"kill", "term"};
  std::size_t runs = 5;
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const std::string value = argv[i + 1];
    if (arg == "--nodes") {
      nodes = std::stoul(value);
    } else if (arg == "--rate") {
      rate = std::stod(value);
    } else if (arg == "--keys") {
      keys = std::stoul(value);
    } else if (arg == "--save-interval") {
      intervals = drl::integration::split_list(value);
    } else if (arg == "--stop") {
      stops = drl::integration::split_list(value);
    } else if (arg == "--runs") {
      runs = std::stoul(value);
    } else if (arg == "--seed") {
      seed = std::stoull(value);
    } else {
      return usage();
    }
  }
  if (argc % 2 == 0) return usage();
  std::mt19937_64 random(seed);
  std::printf(
      "| stop | save interval | checks/s | stopped after | answered | held after the restart | "
      "lost | lost (ms of checks) |\n|---|---|---|---|---|---|---|---|\n");
  for (const std::string& stop : stops) {
    for (const std::string& interval : intervals) {
      for (std::size_t run = 0; run < runs; ++run) {
        try {
          const RunResult result = run_once(nodes, rate, keys, interval, stop == "kill", random);
          const std::int64_t lost = static_cast<std::int64_t>(result.answered) -
                                    static_cast<std::int64_t>(result.restored);
          std::printf("| %s | %s | %.0f | %lld ms | %llu | %llu | %lld | %.0f |\n",
                      stop == "kill" ? "kill -9, all nodes" : "SIGTERM, all nodes",
                      interval.c_str(), rate, static_cast<long long>(result.stopped_after_ms),
                      static_cast<unsigned long long>(result.answered),
                      static_cast<unsigned long long>(result.restored),
                      static_cast<long long>(lost), static_cast<double>(lost) * 1000.0 / rate);
          std::fflush(stdout);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "run failed: %s\n", error.what());
          return 1;
        }
      }
    }
  }
  return 0;
}
