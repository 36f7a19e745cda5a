#include "daemon/config_manager.hpp"

#include <cstdio>

#include "io/file_permissions.hpp"
#include "io/log.hpp"

namespace drl::daemon {
namespace {

using io::PermissionFinding;
using io::PermissionProblem;

// "config file F (mode ...) is ..." or "config file F: directory D (mode ...) is ...".
std::string subject(std::string_view what, const std::string& path,
                    const PermissionFinding& finding) {
  std::string text = std::string(what) + " " + path;
  if (finding.is_directory) text += ": directory " + finding.path;
  return text + " " + finding.details();
}

void add_config_warnings(const std::string& path, std::vector<PermissionWarning>& warnings) {
  const auto checked = io::check_file_permissions(path, {io::effective_uid(), false});
  if (!checked.ok()) return;
  for (const PermissionFinding& finding : checked.value()) {
    warnings.push_back(
        {TrustedFile::config,
         subject("config file", path, finding) +
             (finding.is_directory ? ": another user can replace the file, and with it the limits"
                                   : ": another user can change the limits") +
             " drld enforces"});
  }
}

void add_key_warnings(const std::string& path, bool allow_readable,
                      std::vector<PermissionWarning>& warnings) {
  const auto checked = io::check_file_permissions(path, {io::effective_uid(), true});
  if (!checked.ok()) return;
  for (const PermissionFinding& finding : checked.value()) {
    const bool readable = finding.has(PermissionProblem::readable_by_others);
    const bool replaceable = finding.problems.size() > (readable ? 1u : 0u);
    std::string message = subject("cluster key file", path, finding) + ":";
    if (readable) message += " any local user can read the key and forge cluster datagrams";
    if (readable && replaceable) message += ";";
    if (replaceable) message += " another user can replace the key";
    const bool refused = readable && !allow_readable;
    if (refused) {
      message +=
          "; make it 0600 (or 0640 and drld's group), or set [cluster] allow_readable_key_file = "
          "true to accept it";
    } else if (readable) {
      message += " (accepted: [cluster] allow_readable_key_file = true)";
    }
    warnings.push_back({TrustedFile::key_file, std::move(message), refused});
  }
}

std::string octal(std::uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

std::string_view trusted_file_name(TrustedFile file) {
  switch (file) {
    case TrustedFile::config:
      return "config";
    case TrustedFile::key_file:
      return "key_file";
    case TrustedFile::socket:
      return "socket";
    case TrustedFile::state_dir:
      return "state_dir";
  }
  return "?";
}

std::vector<PermissionWarning> file_permission_warnings(
    const std::optional<std::string>& config_path, const config::Config& config) {
  std::vector<PermissionWarning> warnings;
  if (config_path) add_config_warnings(*config_path, warnings);
  if (config.cluster.enabled) {
    for (const std::string& key : {config.cluster.key_file, config.cluster.previous_key_file}) {
      if (!key.empty()) add_key_warnings(key, config.cluster.allow_readable_key_file, warnings);
    }
  }
  return warnings;
}

std::vector<PermissionWarning> socket_permission_warnings(const config::NodeSettings& node) {
  std::vector<PermissionWarning> warnings;
  // Connecting to a Unix socket takes write permission on it. The group's is how socket_group
  // grants access, on purpose; the others' lets in every local user.
  if ((node.socket_mode & 0002) != 0) {
    warnings.push_back(
        {TrustedFile::socket, "socket_mode " + octal(node.socket_mode) + " lets every local user " +
                                  "connect to " + node.socket_path +
                                  " and check, reload, inspect and read status; use 0660 and "
                                  "socket_group for the applications that need it"});
  }
  const auto checked =
      io::check_directory_permissions(node.socket_path, {io::effective_uid(), false});
  if (checked.ok()) {
    for (const PermissionFinding& finding : checked.value()) {
      warnings.push_back({TrustedFile::socket,
                          subject("socket", node.socket_path, finding) +
                              ": another user can put a socket of their own in its place, and "
                              "answer drld's clients"});
    }
  }
  return warnings;
}

std::vector<PermissionWarning> state_dir_permission_warnings(const config::NodeSettings& node) {
  std::vector<PermissionWarning> warnings;
  if (node.state_dir.empty()) return warnings;
  // The directories above a file in it: the state directory itself, then its parents.
  const auto checked = io::check_directory_permissions(node.state_dir + "/counts.state",
                                                       {io::effective_uid(), false});
  if (checked.ok()) {
    for (const PermissionFinding& finding : checked.value()) {
      warnings.push_back({TrustedFile::state_dir,
                          subject("state_dir", node.state_dir, finding) +
                              ": another user can delete or replace the saved counts (fresh "
                              "quotas at the next start)"});
    }
  }
  return warnings;
}

ConfigManager::ConfigManager(std::optional<std::string> path, config::Config initial,
                             std::string initial_text)
    : path_(std::move(path)), config_(std::move(initial)), text_(std::move(initial_text)) {}

std::shared_ptr<const core::PolicySet> ConfigManager::policies() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return config_.policies;
}

config::Config ConfigManager::current() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return config_;
}

Result<ReloadOutcome> ConfigManager::reload(std::string_view trigger, bool only_if_changed) {
  if (!path_) {
    return Error{Errc::reload_failed,
                 "drld runs the embedded default configuration; start it with --config FILE to "
                 "reload"};
  }
  // Serialises reloads; checks never take this lock.
  std::lock_guard<std::mutex> guard(mutex_);
  check_permissions(trigger, only_if_changed);
  Result<std::string> text = config::read_config_text(*path_);
  if (!text.ok()) {
    if (only_if_changed && text.error().message == read_failure_) {
      return Error{Errc::reload_failed, text.error().message};
    }
    read_failure_ = text.error().message;
    rejected_text_.clear();
    failures_.fetch_add(1, std::memory_order_relaxed);
    io::log_error("config reload (" + std::string(trigger) + ") failed, keeping generation " +
                  std::to_string(generation()) + ": " + text.error().message);
    return Error{Errc::reload_failed, text.error().message};
  }
  read_failure_.clear();
  if (only_if_changed && text.value() == text_) {
    rejected_text_.clear();  // back to the text in force: a new rejection is news again
    return ReloadOutcome{false, generation(), "unchanged"};
  }
  Result<config::Config> parsed = config::parse_config(text.value(), *path_);
  if (!parsed.ok()) {
    if (only_if_changed && text.value() == rejected_text_) {
      return Error{Errc::reload_failed, parsed.error().message};
    }
    rejected_text_ = std::move(text.value());
    failures_.fetch_add(1, std::memory_order_relaxed);
    io::log_error("config reload (" + std::string(trigger) + ") rejected, keeping generation " +
                  std::to_string(generation()) + ": " + parsed.error().message);
    return Error{Errc::reload_failed, parsed.error().message};
  }
  std::function<std::string()> apply_companion;
  if (companion_) {
    Result<std::function<std::string()>> prepared = companion_(parsed.value());
    if (!prepared.ok()) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      io::log_error("config reload (" + std::string(trigger) + ") rejected, keeping generation " +
                    std::to_string(generation()) + ": " + prepared.error().message);
      return Error{Errc::reload_failed, prepared.error().message};
    }
    apply_companion = std::move(prepared.value());
  }
  const std::string restart_only = config::restart_only_changes(config_, parsed.value());
  // Settings that need a restart keep their running values; the policies (and the partition
  // policy, and [envoy]'s reloadable keys) apply now.
  config_.policies = parsed.value().policies;
  config_.cluster.partition_policy = parsed.value().cluster.partition_policy;
  config_.envoy.algorithm = parsed.value().envoy.algorithm;
  const std::string companion_in_force = apply_companion ? apply_companion() : std::string();
  text_ = std::move(text.value());
  rejected_text_.clear();
  const std::uint64_t generation = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  reloads_.fetch_add(1, std::memory_order_relaxed);
  std::string message = "generation " + std::to_string(generation) + ": " +
                        std::to_string(config_.policies->policies().size()) + " policies in force";
  if (!companion_in_force.empty()) message += ", " + companion_in_force;
  if (!restart_only.empty()) {
    message += "; changes to " + restart_only + " take effect at the next restart";
  }
  if (on_applied_) on_applied_(config_);
  io::log_info("config reloaded (" + std::string(trigger) + "): " + message);
  return ReloadOutcome{true, generation, message};
}

void ConfigManager::report_start_permissions(const std::vector<PermissionWarning>& warnings) {
  std::lock_guard<std::mutex> guard(mutex_);
  permission_report_.clear();
  for (const PermissionWarning& warning : warnings) {
    io::log_warn(warning.message);
    // The socket's and the state directory's are not checked again: a reload compares the
    // files' warnings with these.
    if (!checked_at_start_only(warning.file)) permission_report_ += warning.message + "\n";
  }
  count_permission_warnings(warnings, true);
}

std::array<std::uint64_t, trusted_file_count> ConfigManager::permission_warnings() const {
  std::array<std::uint64_t, trusted_file_count> counts{};
  for (std::size_t i = 0; i < trusted_file_count; ++i) {
    counts[i] = permission_warnings_[i].load(std::memory_order_relaxed);
  }
  return counts;
}

void ConfigManager::check_permissions(std::string_view trigger, bool only_if_changed) {
  // The key files in force are the ones read at start (they are restart-only).
  const std::vector<PermissionWarning> warnings = file_permission_warnings(path_, config_);
  std::string report;
  for (const PermissionWarning& warning : warnings) report += warning.message + "\n";
  if (!only_if_changed || report != permission_report_) {
    for (const PermissionWarning& warning : warnings) {
      io::log_warn("config reload (" + std::string(trigger) + "): " + warning.message);
    }
  }
  permission_report_ = std::move(report);
  count_permission_warnings(warnings, false);
}

void ConfigManager::count_permission_warnings(const std::vector<PermissionWarning>& warnings,
                                              bool at_start) {
  std::array<std::uint64_t, trusted_file_count> counts{};
  for (const PermissionWarning& warning : warnings)
    ++counts[static_cast<std::size_t>(warning.file)];
  for (std::size_t i = 0; i < trusted_file_count; ++i) {
    if (checked_at_start_only(static_cast<TrustedFile>(i)) && !at_start) continue;
    permission_warnings_[i].store(counts[i], std::memory_order_relaxed);
  }
}

}  // namespace drl::daemon
