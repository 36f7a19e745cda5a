#include "io/durable_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace drl::io {
namespace {

Error failure(const std::string& what, const std::string& path) {
  return Error{Errc::io_error, what + " " + path + ": " + std::strerror(errno)};
}

std::string directory_of(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  // Closes now, reporting what close says (a write error may only show here).
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

 private:
  int fd_;
};

}  // namespace

Result<Done> write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string temporary = path + ".tmp";
  // A fresh file of our own: whatever is at the temporary name (a file left by a crash, or a
  // symbolic link planted there) is removed, never written through or kept with its mode.
  if (::unlink(temporary.c_str()) != 0 && errno != ENOENT)
    return failure("cannot remove", temporary);
  Descriptor file(
      ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (file.get() < 0) return failure("cannot create", temporary);
  // The umask may have taken bits away, never added them; this makes the mode exact.
  if (::fchmod(file.get(), 0600) != 0) return failure("cannot set the mode of", temporary);
  const auto give_up = [&temporary](const std::string& what) {
    Error error = failure(what, temporary);
    ::unlink(temporary.c_str());
    return error;
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(file.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return give_up("cannot write");
    written += static_cast<std::size_t>(n);
  }
  // The data on disk before the name points at it: else a crash could leave an empty file.
  if (::fsync(file.get()) != 0) return give_up("cannot fsync");
  if (!file.close()) return give_up("cannot close");
  if (::rename(temporary.c_str(), path.c_str()) != 0) return give_up("cannot rename");
  // The rename itself on disk.
  const std::string directory = directory_of(path);
  Descriptor dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || ::fsync(dir.get()) != 0) return failure("cannot fsync", directory);
  return Done{};
}

Result<std::optional<std::string>> read_file_if_present(const std::string& path,
                                                        std::size_t max_bytes) {
  Descriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return failure("cannot open", path);
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) return failure("cannot stat", path);
  if (!S_ISREG(info.st_mode)) return Error{Errc::io_error, path + " is not a regular file"};
  if (static_cast<std::uint64_t>(info.st_size) > max_bytes) {
    return Error{Errc::too_large, path + " holds " + std::to_string(info.st_size) +
                                      " bytes, more than the " + std::to_string(max_bytes) +
                                      " this node can hold"};
  }
  std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(file.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failure("cannot read", path);
    if (n == 0) break;  // shrank meanwhile: what was read is what there is
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return std::optional<std::string>{std::move(bytes)};
}

Result<Done> ensure_directory(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return failure("cannot create", path);
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return failure("cannot stat", path);
  if (!S_ISDIR(info.st_mode)) return Error{Errc::io_error, path + " is not a directory"};
  return Done{};
}

Result<FileLock> FileLock::acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return failure("cannot create", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    if (error == EWOULDBLOCK) {
      return Error{Errc::io_error,
                   path + " is locked by another process" +
                       (n > 0 ? " (pid " + std::string(holder, static_cast<std::size_t>(n)) + ")"
                              : std::string())};
    }
    errno = error;
    return failure("cannot lock", path);
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the pid; only the message of another process is poorer.
  }
  return FileLock(fd);
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

}  // namespace drl::io
