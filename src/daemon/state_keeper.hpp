// drld's counts on disk ([node] state_dir; docs/operations.md, "State directory"): read back
// once at start, before any check is answered, then saved by a thread of its own every
// state_save_interval and once more at a clean stop. A save copies the store a bounded number of
// table slots at a time (core::snapshot_counts), so checks never wait for a save; encoding and
// the write (io::write_file_atomically) happen with no lock held.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "core/saved_counts.hpp"
#include "io/durable_file.hpp"
#include "wire/state_file.hpp"

namespace drl::daemon {

// What the saves and the start-up read did; read by /metrics and drl status from any thread.
struct StateCounters {
  std::atomic<std::uint64_t> saves_written{0};
  std::atomic<std::uint64_t> saves_unchanged{0};  // nothing changed since the last: not written
  std::atomic<std::uint64_t> saves_failed{0};
  std::atomic<std::uint64_t> last_save_us{0};  // how long the last written save took
  std::atomic<std::uint64_t> last_save_bytes{0};
  std::atomic<std::uint64_t> last_save_counts{0};
  std::atomic<std::int64_t> last_save_unix_ms{0};  // 0: none yet
  // At start: counts put back, dropped as their windows had ended, dropped for lack of room.
  std::atomic<std::uint64_t> restored{0};
  std::atomic<std::uint64_t> restored_ended{0};
  std::atomic<std::uint64_t> restored_dropped{0};
  std::atomic<std::uint64_t> restored_keys_evicted{0};  // keys, not counts: a smaller max_keys
  std::atomic<bool> save_failing{false};                // the last save failed
  // Files refused at start, by wire::StateFileProblem.
  std::array<std::atomic<std::uint64_t>, wire::state_file_problem_count> refused{};
};

class StateKeeper {
 public:
  // `origin_retire_after_ms`: as the replicator's (restored origins are kept as long).
  // `overrides`: the override table saved with the counts (key resets must outlive a restart
  // with the counts they forget), merged back at restore.
  StateKeeper(std::string state_dir, std::uint64_t save_interval_ms, core::CounterStore& store,
              core::OriginTable& origins, core::OverrideTable& overrides,
              std::int64_t origin_retire_after_ms);
  ~StateKeeper();
  StateKeeper(const StateKeeper&) = delete;
  StateKeeper& operator=(const StateKeeper&) = delete;

  // Creates the directory if needed and puts the saved counts back into the store, logging what
  // it did. A file it cannot trust is logged, counted, kept aside as <file>.rejected and left
  // out: the node starts with what it can trust. False only if the directory is unusable.
  bool restore();
  // Starts saving every save interval.
  void start();
  // Stops the saving thread and saves once more: a clean stop loses no count. False (and an
  // error logged) if that save failed.
  bool stop_and_save();

  const StateCounters& counters() const { return counters_; }
  const std::string& file_path() const { return file_path_; }

 private:
  enum class SaveResult { written, unchanged, failed };
  void run();
  // `always`: write even if nothing changed since the last save (the save at a stop: the file
  // then says when the node stopped, which the next start reports).
  SaveResult save(bool always = false);

  const std::string state_dir_;
  const std::string file_path_;
  const std::uint64_t save_interval_ms_;
  core::CounterStore& store_;
  core::OriginTable& origins_;
  core::OverrideTable& overrides_;
  const std::int64_t origin_retire_after_ms_;
  StateCounters counters_;

  // The saving thread's (or stop_and_save's, after the join): the snapshot and the file's bytes,
  // their memory reused from save to save (faulting in tens of megabytes at every save of a
  // large store cost more than the save), and a digest of what the last written save held.
  core::SavedCounts snapshot_;
  std::uint64_t last_saved_digest_ = 0;
  std::string encoded_;               // the file's bytes, its memory reused from save to save
  std::string last_failure_;          // why the last failed save failed
  std::optional<io::FileLock> lock_;  // one drld per state_dir

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;     // last: started after everything it uses
};

}  // namespace drl::daemon
