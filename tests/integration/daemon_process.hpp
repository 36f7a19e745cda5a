// Harness for the integration suite: real drld and drl processes in a private temp directory.
//
// Everything a test starts is cleaned up by RAII, also when a check fails or throws: a running
// drld is killed (SIGKILL) and reaped, and the temp directory is removed. If the test process
// itself is killed (a meson timeout, a crash), a signal handler kills the processes it started;
// only then is its temp directory (/tmp/drl-it-*) left behind.
//
// Nothing here sleeps blindly: waits poll a condition against a monotonic deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drl/client.hpp"

namespace drl::integration {

using namespace std::chrono_literals;
using Millis = std::chrono::milliseconds;

// The binaries under test, from $DRLD and $DRL (set by tests/meson.build). Throws if unset.
std::string drld_binary();
std::string drl_binary();

// Polls `condition` every `interval` until it holds or `timeout` passes; returns the last answer.
bool wait_until(const std::function<bool()>& condition, Millis timeout, Millis interval = 5ms);

// Milliseconds since the Unix epoch (CLOCK_REALTIME, the clock drld names windows with).
std::int64_t wall_ms();

// For tests that hold thousands of connections themselves: raises this process's open files
// limit to its hard limit and returns how many of `wanted` connections it leaves room for
// (keeping 200 descriptors for everything else).
std::size_t connections_this_process_can_hold(std::size_t wanted);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// Truncates and rewrites the file itself (same inode), as an editor saving in place does.
void write_file_in_place(const std::string& path, std::string_view text);
// Writes a sibling file and renames it over `path` (a new inode), as most editors do.
void replace_file(const std::string& path, std::string_view text);
std::string read_file(const std::string& path);
bool path_exists(const std::string& path);

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + the signal that ended the process
  std::string out;
  std::string err;
};

// Runs argv[0] (no shell) with stdin from /dev/null, capturing stdout and stderr. A command still
// running after `timeout` is killed, which shows as exit code 128 + SIGKILL.
CommandResult run_command(const std::vector<std::string>& argv, Millis timeout = 10s);
CommandResult run_drl(const std::vector<std::string>& args, Millis timeout = 10s);
CommandResult run_drld(const std::vector<std::string>& args, Millis timeout = 10s);

// The raw text of a top-level field of a flat JSON object (strings without their quotes), or
// nothing. Enough for the objects drl prints; not a general JSON parser.
std::optional<std::string> json_field(std::string_view json, std::string_view name);
std::uint64_t json_uint(std::string_view json, std::string_view name);  // throws if absent

struct DaemonOptions {
  // The config file's text, written to DIR/conf/NAME.toml with every "@SOCKET@" replaced by the
  // socket path; drld runs with --config on it. Empty: the embedded default, with --socket.
  std::string config_text;
  std::vector<std::string> extra_args;
  // Names the socket (DIR/NAME.sock) and the log (DIR/NAME.log), so that several daemons can
  // share a directory. The config lives in its own subdirectory, because drld watches the
  // config file's directory and should not be woken by its own log.
  std::string name = "drld";
  // Overrides DIR/NAME.sock (for a second daemon on the socket of the first).
  std::string socket_path;
  // Writes the log next to the config file instead, as an operator might.
  bool log_beside_config = false;
  // Runs drld through this command, e.g. {"/usr/sbin/ip", "netns", "exec", "ns1"}; the
  // command must exec drld in place, so that pid() stays drld's. argv[0] is an absolute path.
  std::vector<std::string> command_prefix;
};

// Shorthands for the usual cases.
inline DaemonOptions with_config(std::string config_text) {
  DaemonOptions options;
  options.config_text = std::move(config_text);
  return options;
}
inline DaemonOptions named(std::string name, std::string socket_path = {}) {
  DaemonOptions options;
  options.name = std::move(name);
  options.socket_path = std::move(socket_path);
  return options;
}

// One drld process. Spawned by the constructor; wait_ready() before talking to it.
class DaemonProcess {
 public:
  DaemonProcess(const TempDir& dir, DaemonOptions options);
  ~DaemonProcess();  // kills and reaps the process if it still runs
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Polls until the socket answers a ping. False if drld exited first or `timeout` passed.
  bool wait_ready(Millis timeout = 10s);
  // wait_ready, or throws with the daemon's log.
  void require_ready(Millis timeout = 10s);

  pid_t pid() const { return pid_; }
  const std::string& socket_path() const { return socket_path_; }
  const std::string& config_path() const { return config_path_; }
  std::string log() const;

  bool running();
  void send_signal(int signum) const;
  // The exit code (128 + signal if killed), or nothing if still running after `timeout`.
  std::optional<int> wait_exit(Millis timeout = 10s);
  // SIGTERM, then wait_exit.
  std::optional<int> stop(Millis timeout = 10s);
  // SIGKILL and reap, as a crash would leave things.
  void kill_hard();

  // A connected client; throws if the socket does not answer.
  drl::Client connect() const;
  // A top-level numeric field of the status answer, over a fresh connection; throws on failure.
  std::uint64_t status_uint(std::string_view name) const;

 private:
  void reap(int status);

  std::string socket_path_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

}  // namespace drl::integration
