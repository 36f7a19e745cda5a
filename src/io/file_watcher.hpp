// Calls back when a file may have changed. Watches the file's directory, not the file, so that
// editors that write a new file and rename it, and symlink swaps (Kubernetes ConfigMaps), are
// seen too. Events are debounced; the callback should compare contents before acting.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

namespace drl::io {

class FileWatcher {
 public:
  FileWatcher(uv_loop_t* loop, std::string path, std::function<void()> on_change,
              std::uint64_t debounce_ms);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Returns a libuv error code (0 on success).
  int start();
  // Main loop thread. Handles are released by the loop afterwards.
  void close();

 private:
  struct Handles;
  static void on_event(uv_fs_event_t* handle, const char* filename, int events, int status);
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  std::string path_;
  std::function<void()> on_change_;
  std::uint64_t debounce_ms_;
  Handles* handles_ = nullptr;  // owned by the loop once closing
};

}  // namespace drl::io
