#include "daemon/state_keeper.hpp"

#include <chrono>
#include <cstdio>
#include <utility>

#include "io/clock.hpp"
#include "io/durable_file.hpp"
#include "io/log.hpp"

namespace drl::daemon {
namespace {

constexpr const char* kFileName = "counts.state";
constexpr const char* kRejectedSuffix = ".rejected";

std::string seconds_text(std::int64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000.0);
  return text;
}

}  // namespace

StateKeeper::StateKeeper(std::string state_dir, std::uint64_t save_interval_ms,
                         core::CounterStore& store, core::OriginTable& origins,
                         std::int64_t origin_retire_after_ms)
    : state_dir_(std::move(state_dir)),
      file_path_(state_dir_ + "/" + kFileName),
      save_interval_ms_(save_interval_ms),
      store_(store),
      origins_(origins),
      origin_retire_after_ms_(origin_retire_after_ms) {}

StateKeeper::~StateKeeper() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool StateKeeper::restore() {
  const Result<Done> directory = io::ensure_directory(state_dir_);
  if (!directory.ok()) {
    io::log_error("[node] state_dir: " + directory.error().message);
    return false;
  }
  const std::size_t origins_max = std::max<std::size_t>(origins_.capacity(), 2);
  const wire::StateFileLimits limits{origins_max, core::saved_counts_max(store_)};
  const auto refuse = [this](wire::StateFileProblem problem, const std::string& detail) {
    counters_.refused[static_cast<std::size_t>(problem)].fetch_add(1, std::memory_order_relaxed);
    const std::string rejected = file_path_ + kRejectedSuffix;
    const bool kept = std::rename(file_path_.c_str(), rejected.c_str()) == 0;
    io::log_warn("[node] state_dir: " + file_path_ + " refused (" +
                 std::string(wire::state_file_problem_name(problem)) + ": " + detail +
                 "): starting without saved counts" +
                 (kept ? "; the file is kept as " + rejected : std::string()));
  };
  const Result<std::optional<std::string>> read =
      io::read_file_if_present(file_path_, wire::state_file_bytes_max(limits));
  if (!read.ok()) {
    refuse(read.error().code == Errc::too_large ? wire::StateFileProblem::too_large
                                                : wire::StateFileProblem::unreadable,
           read.error().message);
    return true;
  }
  if (!read.value()) {
    io::log_info("[node] state_dir: no saved counts in " + state_dir_ +
                 " (the first start with it): counts will be saved to " + file_path_);
    return true;
  }
  wire::DecodedStateFile decoded = wire::decode_state_file(*read.value(), limits);
  if (!decoded.counts) {
    refuse(decoded.problem, decoded.detail);
    return true;
  }
  const core::SavedCounts& saved = *decoded.counts;
  if (saved.saver.node_id != origins_.local().node_id) {
    // Another node's counts: its file was copied here, or [node] id changed. Its origins would
    // still be right, but its policies may not be this node's: better none than wrong ones.
    refuse(wire::StateFileProblem::foreign, "saved by node '" + saved.saver.node_id +
                                                "', this is '" + origins_.local().node_id + "'");
    return true;
  }
  const core::WallTime wall = io::wall_now();
  const core::RestoreOutcome outcome =
      core::restore_counts(store_, origins_, saved, io::mono_now(), wall, origin_retire_after_ms_);
  counters_.restored.store(outcome.restored, std::memory_order_relaxed);
  counters_.restored_ended.store(outcome.ended, std::memory_order_relaxed);
  counters_.restored_dropped.store(outcome.dropped, std::memory_order_relaxed);
  std::string line = "[node] state_dir: restored " + std::to_string(outcome.restored) +
                     " counts of " + std::to_string(outcome.origins) + " origins from " +
                     file_path_ + ", saved " + seconds_text(wall.unix_ms - saved.saved_unix_ms) +
                     " ago";
  if (outcome.ended != 0) {
    line += "; " + std::to_string(outcome.ended) + " of windows that ended meanwhile dropped";
  }
  if (outcome.dropped != 0) {
    line +=
        "; " + std::to_string(outcome.dropped) +
        " dropped for lack of room (origins or keys: see drl_store_origin_slots_exhausted_total)";
    io::log_warn(line);
  } else {
    io::log_info(line);
  }
  return true;
}

void StateKeeper::start() {
  thread_ = std::thread([this] { run(); });
}

void StateKeeper::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(save_interval_ms_),
                   [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    save();
    lock.lock();
  }
}

void StateKeeper::stop_and_save() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  save();
}

void StateKeeper::save() {
  const auto started = std::chrono::steady_clock::now();
  core::SavedCounts snapshot = core::snapshot_counts(store_, origins_, io::wall_now());
  // An idle node does not rewrite (and fsync) the same counts every interval.
  if (snapshot.origins == last_saved_.origins && snapshot.counts == last_saved_.counts &&
      counters_.last_save_unix_ms.load(std::memory_order_relaxed) != 0) {
    counters_.saves_unchanged.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const std::string bytes = wire::encode_state_file(snapshot);
  const Result<Done> written = io::write_file_atomically(file_path_, bytes);
  if (!written.ok()) {
    counters_.saves_failed.fetch_add(1, std::memory_order_relaxed);
    if (!save_failing_) {
      io::log_error("[node] state_dir: saving counts failed (" + written.error().message +
                    "); the last saved counts stay, retrying every interval");
    }
    save_failing_ = true;
    return;
  }
  if (save_failing_) io::log_info("[node] state_dir: saving counts works again");
  save_failing_ = false;
  const auto took = std::chrono::steady_clock::now() - started;
  counters_.saves_written.fetch_add(1, std::memory_order_relaxed);
  counters_.last_save_us.store(
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
      std::memory_order_relaxed);
  counters_.last_save_bytes.store(bytes.size(), std::memory_order_relaxed);
  counters_.last_save_counts.store(snapshot.counts.size(), std::memory_order_relaxed);
  counters_.last_save_unix_ms.store(snapshot.saved_unix_ms, std::memory_order_relaxed);
  last_saved_ = std::move(snapshot);
}

}  // namespace drl::daemon
