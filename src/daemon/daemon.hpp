// drld: one node. Owns the store, the config, the socket server and the main event loop.
#pragma once

#include <optional>
#include <string>

namespace drl::daemon {

struct DaemonOptions {
  std::optional<std::string> config_path;  // none: the embedded default
  std::optional<std::string> socket_path;  // overrides [node] socket
  std::optional<std::string> state_dir;    // overrides [node] state_dir
  std::optional<std::size_t> workers;      // overrides [node] workers
  std::optional<std::string> log_level;    // overrides [node] log_level
};

// The embedded default configuration (config/drld.default.toml).
extern const char* const embedded_default_config;

// Runs until SIGTERM or SIGINT. Returns the process exit status.
int run_daemon(const DaemonOptions& options);

// drld --check-config: validates the TOML file at `path` and, with [envoy], the YAML files of
// its config_dir. Prints what it found (OK, or the reason) and returns the exit status.
int check_config(const std::string& path);

}  // namespace drl::daemon
