// Calls back when a file may have changed. Watches the file's directory, not the file, so that
// editors that write a new file and rename it, and symlink swaps (Kubernetes ConfigMaps), are
// seen too; a path ending in '/' names the directory itself (any file in it). Events are
// debounced; the callback should compare contents before acting.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "io/main_loop.hpp"

namespace drl::io {

class FileWatcher {
 public:
  FileWatcher(MainLoop& loop, std::string path, std::function<void()> on_change,
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
  friend struct Handles;

  MainLoop& loop_;
  std::string path_;
  std::function<void()> on_change_;
  std::uint64_t debounce_ms_;
  Handles* handles_ = nullptr;  // owned by the loop once closing
};

}  // namespace drl::io
