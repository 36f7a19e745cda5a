#include "daemon/config_manager.hpp"

#include "io/log.hpp"

namespace drl::daemon {

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
  const std::string restart_only = config::restart_only_changes(config_, parsed.value());
  // Settings that need a restart keep their running values; the policies (and the partition
  // policy) apply now.
  config_.policies = parsed.value().policies;
  config_.cluster.partition_policy = parsed.value().cluster.partition_policy;
  text_ = std::move(text.value());
  rejected_text_.clear();
  const std::uint64_t generation = generation_.fetch_add(1, std::memory_order_acq_rel) + 1;
  reloads_.fetch_add(1, std::memory_order_relaxed);
  std::string message = "generation " + std::to_string(generation) + ": " +
                        std::to_string(config_.policies->policies().size()) + " policies in force";
  if (!restart_only.empty()) {
    message += "; changes to " + restart_only + " take effect at the next restart";
  }
  if (on_applied_) on_applied_(config_);
  io::log_info("config reloaded (" + std::string(trigger) + "): " + message);
  return ReloadOutcome{true, generation, message};
}

}  // namespace drl::daemon
