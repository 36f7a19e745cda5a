// drld: the drl daemon. See `drld --help` and docs/operations.md.
#include <cxxopts.hpp>

#include <cstdio>
#include <iostream>

#include "config/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/metrics.hpp"

#ifndef DRL_VERSION
#define DRL_VERSION "unknown"
#endif

namespace {}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options spec("drld", "drl daemon: distributed rate limiter node");
  // clang-format off
  spec.add_options()
      ("config", "run with this TOML config file (default: the embedded default config)",
       cxxopts::value<std::string>(), "FILE")
      ("check-config", "validate FILE and exit: 0 if valid, 1 with the reason if not",
       cxxopts::value<std::string>(), "FILE")
      ("socket", "Unix socket path (overrides [node] socket)", cxxopts::value<std::string>(),
       "PATH")
      ("state-dir", "save counts here and read them back at start (overrides [node] state_dir; "
       "\"\" for none)", cxxopts::value<std::string>(), "DIR")
      ("workers", "worker threads (overrides [node] workers; 0: one per CPU)",
       cxxopts::value<std::size_t>(), "N")
      ("log-level", "debug, info, warn or error (overrides [node] log_level)",
       cxxopts::value<std::string>(), "LEVEL")
      ("print-default-config", "print the embedded default config and exit")
      ("print-metrics", "print the table of exported metrics (Markdown) and exit")
      ("version", "print the version and exit")
      ("h,help", "print this help");
  // clang-format on
  try {
    const cxxopts::ParseResult args = spec.parse(argc, argv);
    if (args.count("help") != 0) {
      std::cout << spec.help() << "\n";
      return 0;
    }
    if (!args.unmatched().empty()) {
      std::fprintf(stderr, "drld: unexpected argument '%s' (see drld --help)\n",
                   args.unmatched().front().c_str());
      return 2;
    }
    if (args.count("version") != 0) {
#ifdef DRL_WITH_ENVOY
      std::printf("drld %s (with Envoy's rate limit service)\n", DRL_VERSION);
#else
      std::printf("drld %s (without Envoy's rate limit service: -Denvoy)\n", DRL_VERSION);
#endif
      return 0;
    }
    if (args.count("print-metrics") != 0) {
      std::fputs(drl::daemon::metric_table_markdown().c_str(), stdout);
      return 0;
    }
    if (args.count("print-default-config") != 0) {
      std::fputs(drl::daemon::embedded_default_config, stdout);
      return 0;
    }
    if (args.count("check-config") != 0)
      return drl::daemon::check_config(args["check-config"].as<std::string>());
    drl::daemon::DaemonOptions options;
    if (args.count("config") != 0) options.config_path = args["config"].as<std::string>();
    if (args.count("socket") != 0) options.socket_path = args["socket"].as<std::string>();
    if (args.count("state-dir") != 0) options.state_dir = args["state-dir"].as<std::string>();
    if (args.count("workers") != 0) options.workers = args["workers"].as<std::size_t>();
    if (args.count("log-level") != 0) {
      const std::string level = args["log-level"].as<std::string>();
      if (level != "debug" && level != "info" && level != "warn" && level != "error") {
        std::fprintf(stderr, "drld: --log-level must be debug, info, warn or error\n");
        return 2;
      }
      options.log_level = level;
    }
    return drl::daemon::run_daemon(options);
  } catch (const cxxopts::exceptions::exception& error) {
    std::fprintf(stderr, "drld: %s (see drld --help)\n", error.what());
    return 2;
  }
}
