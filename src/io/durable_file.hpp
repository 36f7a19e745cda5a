// Files that survive a crash: written whole or not at all. The state directory's counts use
// this (docs/operations.md, "State directory"): a kill -9 or a power cut during a save leaves
// the previous file, never half of the new one.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "drl/result.hpp"

namespace drl::io {

// Writes `bytes` to `path` atomically: into a fresh `path`.tmp (mode 0600; anything already at
// that name, a symbolic link included, is removed first), fsync, rename over `path`, fsync of
// the directory. On failure the previous file at `path` is untouched and the temporary one
// removed.
Result<Done> write_file_atomically(const std::string& path, std::string_view bytes);

// The contents of `path`; nullopt if it does not exist. An error if it cannot be read, or holds
// more than `max_bytes` (read no further than that).
Result<std::optional<std::string>> read_file_if_present(const std::string& path,
                                                        std::size_t max_bytes);

// Creates `path` (mode 0700) if it does not exist; an error if it cannot, or is not a directory.
Result<Done> ensure_directory(const std::string& path);

// An exclusive lock on a file (flock), held until destruction: one process at a time may use
// what it guards. The file holds the holder's pid, for the message another process gets.
class FileLock {
 public:
  // The lock on `path` (created, mode 0600, if missing); an error if another process holds it
  // or the file cannot be created.
  static Result<FileLock> acquire(const std::string& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace drl::io
