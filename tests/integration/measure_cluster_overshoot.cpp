// Measures the overshoot of a cluster of real drld processes on loopback, for the table in
// docs/replication.md: one key checked round-robin across the nodes at a multiple of its
// limit, admitted per window compared with the model. Prints one Markdown row per setting.
//
//   build/tests/integration/measure_cluster_overshoot [--nodes 3] [--gossip-ms 1,5,20,50]
//       [--offered 2,3] [--limit 100] [--window-ms 1000] [--windows 10]
//       [--algorithm fixed,sliding] [--pacing even|poisson] [--seed 1] [--verbose]
//       [--kill-at 1.7 [--restart-after-ms 320] [--warmup-max 500ms,0s]]
//
// --verbose prints every window's numbers on stderr. --kill-at kills the last node (SIGKILL)
// that many windows into the measured ones and starts it again --restart-after-ms later,
// once per [cluster] warmup_max given, and prints a table of the worst windows instead: the
// worst aligned window, and the most admissions in any interval one window long. A
// warmup_max of "none" writes no such key (to measure a drld from before the start-up hold,
// given as $DRLD).
//
// drld is taken from $DRLD, else from the build tree it was built with.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "cluster_harness.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: measure_cluster_overshoot [--nodes N] [--gossip-ms LIST] [--offered LIST] "
               "[--limit L] [--window-ms W] [--windows K] [--algorithm LIST] "
               "[--pacing even|poisson] [--seed S] [--verbose] [--kill-at W "
               "[--restart-after-ms MS] [--warmup-max LIST]]\n");
  return 2;
}

// One row per algorithm, gossip interval, offered multiple and warmup_max, with the last node
// killed and restarted: how far the worst window went over the limit.
int measure_restarts(const drl::integration::OvershootSettings& base,
                     const std::vector<std::string>& algorithms,
                     const std::vector<std::string>& gossip,
                     const std::vector<std::string>& offered,
                     const std::vector<std::string>& warmups) {
  using namespace drl::integration;
  std::printf(
      "| algorithm | N | gossip | offered | limit/window | warmup_max | killed at | back after "
      "| worst aligned window | most in any window | failed checks | restarted node's "
      "log |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int status = 0;
  for (const std::string& algorithm : algorithms) {
    for (const std::string& g : gossip) {
      for (const std::string& k : offered) {
        for (const std::string& warmup : warmups) {
          OvershootSettings settings = base;
          settings.algorithm = algorithm;
          settings.gossip_interval_ms = std::stoull(g);
          settings.offered_multiple = std::stod(k);
          // "none": no warmup_max line (for a drld from before the start-up hold).
          settings.cluster_settings = warmup == "none" ? "" : "warmup_max = \"" + warmup + "\"\n";
          TempDir dir;
          OvershootRun run;
          try {
            run = measure_overshoot(dir, settings);
          } catch (const std::exception& error) {
            std::fprintf(stderr, "%s: %s\n", warmup.c_str(), error.what());
            status = 1;
            continue;
          }
          std::uint64_t worst = 0;
          for (const WindowCount& window : run.full_windows)
            worst = std::max(worst, window.admitted);
          const auto percent = [&](std::uint64_t admitted) {
            return 100.0 * (static_cast<double>(admitted) - static_cast<double>(settings.limit)) /
                   static_cast<double>(settings.limit);
          };
          std::printf(
              "| %s | %zu | %s ms | %sx | %llu/%llu ms | %s | %.2f windows | %llu ms | %llu "
              "(%+.1f%%) | %llu (%+.1f%%) | %llu | %s |\n",
              algorithm.c_str(), settings.nodes, g.c_str(), k.c_str(),
              static_cast<unsigned long long>(settings.limit),
              static_cast<unsigned long long>(settings.window_ms), warmup.c_str(),
              settings.kill_at_windows, static_cast<unsigned long long>(settings.restart_after_ms),
              static_cast<unsigned long long>(worst), percent(worst),
              static_cast<unsigned long long>(run.most_in_any_window),
              percent(run.most_in_any_window), static_cast<unsigned long long>(run.checks_failed),
              run.restart_log.c_str());
          std::fflush(stdout);
        }
      }
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace drl::integration;
  if (std::getenv("DRLD") == nullptr) ::setenv("DRLD", DRLD_BUILD_PATH, 1);
  std::vector<std::string> gossip{"1", "5", "20", "50"};
  std::vector<std::string> offered{"2", "3"};
  std::vector<std::string> algorithms{"fixed"};
  std::vector<std::string> warmups{"500ms"};
  OvershootSettings base;
  base.windows = 10;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verbose") {
      verbose = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    const std::string value = argv[++i];
    if (arg == "--nodes") {
      base.nodes = std::stoul(value);
    } else if (arg == "--gossip-ms") {
      gossip = drl::integration::split_list(value);
    } else if (arg == "--offered") {
      offered = drl::integration::split_list(value);
    } else if (arg == "--limit") {
      base.limit = std::stoull(value);
    } else if (arg == "--window-ms") {
      base.window_ms = std::stoull(value);
    } else if (arg == "--windows") {
      base.windows = std::stoul(value);
    } else if (arg == "--algorithm") {
      algorithms = drl::integration::split_list(value);
    } else if (arg == "--pacing") {
      if (value != "even" && value != "poisson") return usage();
      base.poisson = value == "poisson";
    } else if (arg == "--seed") {
      base.seed = std::stoull(value);
    } else if (arg == "--kill-at") {
      base.kill_at_windows = std::stod(value);
    } else if (arg == "--restart-after-ms") {
      base.restart_after_ms = std::stoull(value);
    } else if (arg == "--warmup-max") {
      warmups = drl::integration::split_list(value);
    } else {
      return usage();
    }
  }

  std::printf("pacing %s, seed %llu\n\n", base.poisson ? "poisson" : "even",
              static_cast<unsigned long long>(base.seed));
  if (base.kill_at_windows >= 0)
    return measure_restarts(base, algorithms, gossip, offered, warmups);
  std::printf(
      "| algorithm | N | gossip | offered | limit/window | rtt | model mean excess | model max "
      "excess | measured mean excess | measured max excess | min admitted | windows | "
      "converged after |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  int status = 0;
  for (const std::string& algorithm : algorithms) {
    for (const std::string& g : gossip) {
      for (const std::string& k : offered) {
        OvershootSettings settings = base;
        settings.algorithm = algorithm;
        settings.gossip_interval_ms = std::stoull(g);
        settings.offered_multiple = std::stod(k);
        TempDir dir;
        OvershootRun run;
        try {
          run = measure_overshoot(dir, settings);
        } catch (const std::exception& error) {
          std::fprintf(stderr, "gossip %s offered %s: %s\n", g.c_str(), k.c_str(), error.what());
          status = 1;
          continue;
        }
        const double latency_ms = std::max(0.0, run.rtt_us) / 2000.0;
        const auto gossip_ms = static_cast<double>(settings.gossip_interval_ms);
        // Mean delay: half a gossip interval, half a millisecond of timer rounding, latency.
        const double model_mean = model_excess(settings, gossip_ms / 2 + 0.5 + latency_ms);
        const double model_max = model_excess(settings, gossip_ms + 1 + latency_ms);
        double sum = 0;
        std::int64_t max = INT64_MIN;
        std::uint64_t min_admitted = UINT64_MAX;
        for (const WindowCount& window : run.full_windows) {
          const auto excess = static_cast<std::int64_t>(window.admitted) -
                              static_cast<std::int64_t>(settings.limit);
          sum += static_cast<double>(excess);
          max = std::max(max, excess);
          min_admitted = std::min(min_admitted, window.admitted);
        }
        const double mean =
            run.full_windows.empty() ? 0 : sum / static_cast<double>(run.full_windows.size());
        std::printf(
            "| %s | %zu | %s ms | %sx | %llu/%llu ms | %.0f us | %.2f | %.2f | %.2f | %lld | %llu "
            "| %zu | %s |\n",
            algorithm.c_str(), settings.nodes, g.c_str(), k.c_str(),
            static_cast<unsigned long long>(settings.limit),
            static_cast<unsigned long long>(settings.window_ms), run.rtt_us, model_mean, model_max,
            mean, static_cast<long long>(max), static_cast<unsigned long long>(min_admitted),
            run.full_windows.size(),
            run.converged && run.counts_match ? (std::to_string(run.convergence_ms) + " ms").c_str()
                                              : "NO");
        std::fflush(stdout);
        if (verbose) std::fprintf(stderr, "%s", window_table(run, settings.limit).c_str());
        if (!run.converged || !run.counts_match || run.checks_failed != 0) {
          std::fprintf(stderr, "gossip %s offered %s: %s (failed checks %llu)\n", g.c_str(),
                       k.c_str(), run.failure.c_str(),
                       static_cast<unsigned long long>(run.checks_failed));
          status = 1;
        }
      }
    }
  }
  return status;
}
