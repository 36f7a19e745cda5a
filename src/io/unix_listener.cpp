#include "io/unix_listener.hpp"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace drl::io {
namespace {

Error failure(const std::string& path, std::string_view what, int error_number) {
  return Error{Errc::io_error,
               path + ": " + std::string(what) + ": " + std::strerror(error_number)};
}

bool make_parents(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return true;
  const std::string parent = path.substr(0, slash);
  struct stat info {};
  if (::stat(parent.c_str(), &info) == 0) return S_ISDIR(info.st_mode);
  if (!make_parents(parent)) return false;
  return ::mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST;
}

bool fill_address(const std::string& path, sockaddr_un& address) {
  std::memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.data(), path.size());
  return true;
}

// True if a process accepts connections on `path`.
bool someone_listens(const sockaddr_un& address) {
  const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  const bool listening =
      ::connect(probe, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(probe);
  return listening;
}

}  // namespace

Result<UnixListener> UnixListener::open(const std::string& path, std::uint32_t mode,
                                        const std::string& owner, const std::string& group,
                                        int backlog) {
  sockaddr_un address{};
  if (!fill_address(path, address)) {
    return Error{Errc::io_error, path + ": socket path is too long"};
  }
  if (!make_parents(path)) return failure(path, "cannot create the parent directory", errno);

  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return Error{Errc::io_error, path + ": exists and is not a socket; not replacing it"};
    }
    if (someone_listens(address)) {
      return Error{Errc::io_error, path + ": another process (drld?) is listening on it"};
    }
    ::unlink(path.c_str());  // left behind by a daemon that did not shut down cleanly
  }
  uid_t uid = static_cast<uid_t>(-1);
  if (!owner.empty()) {
    const struct passwd* entry = ::getpwnam(owner.c_str());
    if (entry == nullptr)
      return Error{Errc::io_error, "socket_owner '" + owner + "' does not exist"};
    uid = entry->pw_uid;
  }
  gid_t gid = static_cast<gid_t>(-1);
  if (!group.empty()) {
    const struct group* entry = ::getgrnam(group.c_str());
    if (entry == nullptr)
      return Error{Errc::io_error, "socket_group '" + group + "' does not exist"};
    gid = entry->gr_gid;
  }

  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failure(path, "socket", errno);
  // Created with no more access than asked for, so there is no window with a wider mode.
  const mode_t previous_umask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  const int bind_errno = errno;
  ::umask(previous_umask);
  if (bound != 0) {
    ::close(fd);
    return failure(path, "bind", bind_errno);
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0 ||
      ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
       ::chown(path.c_str(), uid, gid) != 0)) {
    const int error_number = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return failure(path, "setting mode or group", error_number);
  }
  if (::listen(fd, backlog) != 0) {
    const int error_number = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return failure(path, "listen", error_number);
  }
  struct stat created {};
  ::stat(path.c_str(), &created);
  return UnixListener(fd, path, created.st_dev, created.st_ino);
}

UnixListener::UnixListener(UnixListener&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), device_(other.device_), inode_(other.inode_) {
  other.fd_ = -1;
}

UnixListener::~UnixListener() {
  if (fd_ < 0) return;
  ::close(fd_);
  // Remove the file only if it is still the one we made (not a successor's).
  struct stat current {};
  if (::lstat(path_.c_str(), &current) == 0 && current.st_dev == device_ &&
      current.st_ino == inode_) {
    ::unlink(path_.c_str());
  }
}

}  // namespace drl::io
