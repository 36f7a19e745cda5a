// The configuration in force, and how it changes: reload from the file on request (SIGHUP,
// file change, `drl reload`). A rejected file changes nothing. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "drl/result.hpp"

namespace drl::daemon {

// What a permission warning is about; the label values of drl_file_permission_warnings.
enum class TrustedFile : std::size_t { config, key_file, socket, state_dir };
inline constexpr std::size_t trusted_file_count = 4;
// "config", "key_file", "socket", "state_dir"
std::string_view trusted_file_name(TrustedFile file);
// The socket and the state directory are checked at start only (drld creates them); a reload
// checks the others again.
inline bool checked_at_start_only(TrustedFile file) {
  return file == TrustedFile::socket || file == TrustedFile::state_dir;
}

// A file drld trusts that another user could change (or, for a cluster key, read): one line of
// the log (docs/security.md, "Files and permissions").
struct PermissionWarning {
  TrustedFile file = TrustedFile::config;
  std::string message;
  bool refuses_start = false;  // a key file others can read, without allow_readable_key_file
};

// The config file (none for the embedded default) and, with [cluster], its key files: each
// file, or a directory above it, that a user other than root and drld's own can write or owns,
// and a key file others can read. A file that cannot be examined gives no warning: reading it
// fails with its own message.
std::vector<PermissionWarning> file_permission_warnings(
    const std::optional<std::string>& config_path, const config::Config& config);

// A socket_mode that lets every local user connect, and the directories above the socket that
// another user could replace it in. At start, once the socket exists.
std::vector<PermissionWarning> socket_permission_warnings(const config::NodeSettings& node);

// The state directory and the directories above it that another user could write: they could
// delete or replace the saved counts (fresh quotas at the next start). At start, once it exists.
std::vector<PermissionWarning> state_dir_permission_warnings(const config::NodeSettings& node);

struct ReloadOutcome {
  bool changed = false;  // false: the file's text was the same, nothing to do
  std::uint64_t generation = 0;
  std::string message;
};

class ConfigManager {
 public:
  // `path` empty: running the embedded default, which cannot be reloaded. `initial` is the
  // configuration as the file says (before command-line overrides), to compare reloads with.
  ConfigManager(std::optional<std::string> path, config::Config initial, std::string initial_text);

  // Called after a new configuration is in force, on the thread that reloaded, with the
  // manager's lock held (so calls are serialised). Set before the first reload.
  void on_applied(std::function<void(const config::Config&)> hook) {
    on_applied_ = std::move(hook);
  }

  // A part of the configuration that lives in files of its own (the [envoy] YAML directory):
  // read and validated at every reload, with the TOML in `parsed`; it returns what puts it in
  // force (and then says, for the log and `drl reload`, what is in force), or an error. A reload
  // applies only when the TOML and the companion are both valid, and then both. Set before the
  // first reload.
  using Companion =
      std::function<Result<std::function<std::string()>>(const config::Config& parsed)>;
  void set_companion(Companion companion) { companion_ = std::move(companion); }

  // Reads and validates the file; if valid, it is in force when this returns.
  // `trigger` names the cause for the log ("SIGHUP", "file change", "drl reload").
  // With `only_if_changed`, a text that is unchanged, or that was rejected last time, is not
  // reloaded (nor an unreadable file that failed the same way last time).
  Result<ReloadOutcome> reload(std::string_view trigger, bool only_if_changed);

  // Lock-free: the number of the configuration in force (1 for the first).
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  std::shared_ptr<const core::PolicySet> policies() const;
  config::Config current() const;
  const std::optional<std::string>& path() const { return path_; }

  std::uint64_t reloads() const { return reloads_.load(std::memory_order_relaxed); }
  std::uint64_t reload_failures() const { return failures_.load(std::memory_order_relaxed); }

  // Logs the warnings found at start (one line each) and keeps their counts. Every reload then
  // checks the config and key files again: it logs what it finds when asked by SIGHUP or `drl
  // reload`, and after a file change only if the findings changed (so that drld's own log in
  // the config's directory does not repeat them without end); the counts follow.
  void report_start_permissions(const std::vector<PermissionWarning>& warnings);
  // Lock-free: the warnings of the last check, by TrustedFile.
  std::array<std::uint64_t, trusted_file_count> permission_warnings() const;

 private:
  std::optional<std::string> path_;
  mutable std::mutex mutex_;
  config::Config config_;
  std::string text_;
  // What the last rejected reload saw, so that a file change that leaves the file as it was
  // rejected is not reported again: drld's own log in the config's directory would otherwise
  // trigger a failed reload, which logs, which triggers another, without end.
  std::string rejected_text_;
  std::string read_failure_;
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> failures_{0};
  std::function<void(const config::Config&)> on_applied_;
  Companion companion_;
  std::string permission_report_;  // the warnings the last check found, one per line
  std::array<std::atomic<std::uint64_t>, trusted_file_count> permission_warnings_{};

  void check_permissions(std::string_view trigger, bool only_if_changed);
  void count_permission_warnings(const std::vector<PermissionWarning>& warnings, bool at_start);
};

}  // namespace drl::daemon
