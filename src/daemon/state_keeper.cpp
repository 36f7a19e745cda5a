#include "daemon/state_keeper.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <type_traits>
#include <utility>

#include "io/clock.hpp"
#include "io/durable_file.hpp"
#include "io/log.hpp"

namespace drl::daemon {
namespace {

constexpr const char* kFileName = "counts.state";
constexpr const char* kRejectedSuffix = ".rejected";
constexpr const char* kLockName = "drld.lock";

// What a snapshot holds, whatever its time: its origins and counts, and the override table's
// version (it moves at every change of the table). 0: no digest (no memory for the hash
// state), which never matches, so the save goes ahead.
std::uint64_t digest_of(const core::SavedCounts& saved, std::uint64_t overrides_version) {
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return 0;
  XXH3_64bits_reset(state);
  for (const core::Origin& origin : saved.origins) {
    XXH3_64bits_update(state, origin.node_id.data(), origin.node_id.size());
    XXH3_64bits_update(state, &origin.incarnation, sizeof origin.incarnation);
  }
  static_assert(std::has_unique_object_representations_v<core::SlotUpdate>,
                "hashing counts as bytes needs no padding in SlotUpdate");
  XXH3_64bits_update(state, saved.counts.data(), saved.counts.size() * sizeof(core::SlotUpdate));
  XXH3_64bits_update(state, &overrides_version, sizeof overrides_version);
  const std::uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return digest;
}

// "1 count", "3 counts".
std::string counted(std::uint64_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string seconds_text(std::int64_t ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ms) / 1000.0);
  return text;
}

}  // namespace

StateKeeper::StateKeeper(std::string state_dir, std::uint64_t save_interval_ms,
                         core::CounterStore& store, core::OriginTable& origins,
                         core::OverrideTable& overrides, std::int64_t origin_retire_after_ms)
    : state_dir_(std::move(state_dir)),
      file_path_(state_dir_ + "/" + kFileName),
      save_interval_ms_(save_interval_ms),
      store_(store),
      origins_(origins),
      overrides_(overrides),
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
    io::log_error("[node] state_dir: " + directory.error().message +
                  " (its parent directory must exist and be writable by drld)");
    return false;
  }
  // Two nodes saving to one file would each overwrite the other's counts, and the next start
  // of one of them would refuse the other's file. Taking the lock also proves, at start, that
  // drld can create files there.
  Result<io::FileLock> lock = io::FileLock::acquire(state_dir_ + "/" + kLockName);
  if (!lock.ok()) {
    io::log_error("[node] state_dir: " + lock.error().message +
                  ": each drld needs a state_dir of its own");
    return false;
  }
  lock_.emplace(std::move(lock.value()));
  const std::size_t origins_max = std::max<std::size_t>(origins_.capacity(), 2);
  const wire::StateFileLimits limits{origins_max, core::saved_counts_max(store_),
                                     overrides_.limits().records_max};
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
  counters_.restored_keys_evicted.store(outcome.keys_evicted, std::memory_order_relaxed);
  // The table judges each record as it judges a peer's: expired ones stay tombstones, those past
  // their retention are dropped.
  const std::size_t overrides_restored = overrides_.merge(saved.overrides, wall, true);
  std::string line = "[node] state_dir: restored " + counted(outcome.restored, "count") + " of " +
                     counted(outcome.origins, "origin") + " from " + file_path_ + ", saved " +
                     seconds_text(wall.unix_ms - saved.saved_unix_ms) + " ago";
  if (overrides_restored != 0) {
    line += ", and " + counted(overrides_restored, "override record") +
            " (key resets and overrides, tombstones included)";
  }
  if (outcome.ended != 0) {
    line += "; " + counted(outcome.ended, "count") + " of windows that ended meanwhile dropped";
  }
  if (outcome.dropped != 0) {
    line += "; " + counted(outcome.dropped, "count") +
            " dropped for lack of room (origins: see drl_store_origin_slots_exhausted_total)";
  }
  if (outcome.keys_evicted != 0) {
    line += "; " + counted(outcome.keys_evicted, "key") +
            " did not fit in [bounds] max_keys and were evicted, the lightest first (their "
            "floors kept while room lasts: docs/operations.md, Key floods)";
  }
  if (outcome.dropped != 0 || outcome.keys_evicted != 0) {
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
  // The lowest priority (nice 19) for this thread alone: a save of a large store takes a core
  // for a moment, and the threads that answer checks should get it first.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19) != 0) {
    io::log_debug("[node] state_dir: cannot lower the saving thread's priority");
  }
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

bool StateKeeper::stop_and_save() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  const SaveResult result = save(true);
  if (result == SaveResult::failed) {
    io::log_error("[node] state_dir: the counts of this run since " +
                  std::string(counters_.last_save_unix_ms.load(std::memory_order_relaxed) == 0
                                  ? "its start"
                                  : "the last save") +
                  " are lost: the last save, at the stop, failed (" + last_failure_ + ")");
  }
  return result != SaveResult::failed;
}

StateKeeper::SaveResult StateKeeper::save(bool always) {
  const auto started = std::chrono::steady_clock::now();
  core::SavedCounts& snapshot = snapshot_;
  // The version first: a change after it is saved next time.
  const std::uint64_t overrides_version = overrides_.version();
  core::snapshot_counts(store_, origins_, io::wall_now(), snapshot);
  snapshot.overrides = overrides_.records();
  // An idle node does not rewrite (and fsync) the same counts every interval. A digest, not a
  // copy of the last save: that would double the memory a large store needs for saving.
  const std::uint64_t digest = digest_of(snapshot, overrides_version);
  if (!always && digest != 0 && digest == last_saved_digest_ &&
      counters_.last_save_unix_ms.load(std::memory_order_relaxed) != 0) {
    counters_.saves_unchanged.fetch_add(1, std::memory_order_relaxed);
    return SaveResult::unchanged;
  }
  wire::encode_state_file(snapshot, encoded_);
  const std::string& bytes = encoded_;
  const Result<Done> written = io::write_file_atomically(file_path_, bytes);
  if (!written.ok()) {
    counters_.saves_failed.fetch_add(1, std::memory_order_relaxed);
    last_failure_ = written.error().message;
    if (!counters_.save_failing.load(std::memory_order_relaxed)) {
      io::log_error("[node] state_dir: saving counts failed (" + last_failure_ +
                    "); the last saved counts stay, retrying every interval");
    }
    counters_.save_failing.store(true, std::memory_order_relaxed);
    return SaveResult::failed;
  }
  if (counters_.save_failing.load(std::memory_order_relaxed)) {
    io::log_info("[node] state_dir: saving counts works again");
  }
  counters_.save_failing.store(false, std::memory_order_relaxed);
  const auto took = std::chrono::steady_clock::now() - started;
  counters_.saves_written.fetch_add(1, std::memory_order_relaxed);
  counters_.last_save_us.store(
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
      std::memory_order_relaxed);
  counters_.last_save_bytes.store(bytes.size(), std::memory_order_relaxed);
  counters_.last_save_counts.store(snapshot.counts.size(), std::memory_order_relaxed);
  counters_.last_save_unix_ms.store(snapshot.saved_unix_ms, std::memory_order_relaxed);
  last_saved_digest_ = digest;
  return SaveResult::written;
}

}  // namespace drl::daemon
