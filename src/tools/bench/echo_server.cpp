#include "tools/bench/echo_server.hpp"

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/bounds.hpp"
#include "tools/bench/file_descriptor.hpp"
#include "tools/bench/load_connection.hpp"
#include "tools/bench/unix_socket.hpp"

namespace drl::bench {
namespace {

// The answer to every frame: a 4-byte length, then the msgpack map
// {"v": 1, "id": 0, "allowed": true} (17 bytes), the shape of a small drl answer.
constexpr std::string_view kAnswer(
    "\x00\x00\x00\x11"
    "\x83\xa1v\x01\xa2id\x00\xa7"
    "allowed\xc3",
    21);

constexpr std::uint64_t kListenerToken = 1;
constexpr std::uint64_t kSignalToken = 2;

// Answers every whole frame at the front of `connection`'s input; false on a frame too large.
bool answer_frames(LoadConnection& connection) {
  for (;;) {
    const std::string_view bytes = connection.unread();
    if (bytes.size() < bounds::frame_header_bytes) return true;
    const auto* header = reinterpret_cast<const unsigned char*>(bytes.data());
    const std::size_t body = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                             (std::size_t{header[2]} << 8) | std::size_t{header[3]};
    if (body > bounds::frame_bytes_max) return false;
    if (bytes.size() < bounds::frame_header_bytes + body) return true;
    connection.consume(bounds::frame_header_bytes + body);
    connection.output().append(kAnswer);
  }
}

}  // namespace

EchoServer::EchoServer(std::string socket_path) : socket_path_(std::move(socket_path)) {}

int EchoServer::run() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  FileDescriptor listener;
  try {
    listener = FileDescriptor(listen_unix(socket_path_));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "drl-bench: echo server: %s\n", error.what());
    return 1;
  }
  const FileDescriptor signal_fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
  const FileDescriptor epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  if (signal_fd.get() < 0 || epoll_fd.get() < 0) {
    std::fprintf(stderr, "drl-bench: echo server: %s\n", std::strerror(errno));
    return 1;
  }
  const auto watch = [&](int fd, std::uint64_t token, std::uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = token;
    return ::epoll_ctl(epoll_fd.get(), op, fd, &event) == 0;
  };
  watch(listener.get(), kListenerToken, EPOLLIN, EPOLL_CTL_ADD);
  watch(signal_fd.get(), kSignalToken, EPOLLIN, EPOLL_CTL_ADD);

  // Connections by fd; the epoll token of a connection is its fd shifted past the tokens above.
  std::unordered_map<int, std::unique_ptr<LoadConnection>> connections;
  const auto token_of = [](int fd) { return static_cast<std::uint64_t>(fd) + 16; };
  const auto drop = [&](int fd) { connections.erase(fd); };

  std::fprintf(stderr, "drl-bench: echo server on %s (pid %d)\n", socket_path_.c_str(),
               static_cast<int>(::getpid()));
  epoll_event events[256];
  bool stopping = false;
  while (!stopping) {
    const int ready = ::epoll_wait(epoll_fd.get(), events, 256, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "drl-bench: echo server: epoll_wait: %s\n", std::strerror(errno));
      break;
    }
    for (int i = 0; i < ready; ++i) {
      const std::uint64_t token = events[i].data.u64;
      if (token == kSignalToken) {
        stopping = true;
        break;
      }
      if (token == kListenerToken) {
        for (;;) {
          const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          connections.emplace(fd, std::make_unique<LoadConnection>(fd));
          watch(fd, token_of(fd), EPOLLIN, EPOLL_CTL_ADD);
        }
        continue;
      }
      const int fd = static_cast<int>(token - 16);
      const auto found = connections.find(fd);
      if (found == connections.end()) continue;
      LoadConnection& connection = *found->second;
      if ((events[i].events & EPOLLOUT) == 0 || (events[i].events & EPOLLIN) != 0) {
        const LoadConnection::ReadStatus status = connection.read_available();
        if (status != LoadConnection::ReadStatus::ok || !answer_frames(connection)) {
          drop(fd);
          continue;
        }
      }
      if (!connection.flush()) {
        drop(fd);
        continue;
      }
      const bool want_output = connection.output_pending();
      if (want_output != connection.watching_output) {
        watch(fd, token_of(fd), EPOLLIN | (want_output ? EPOLLOUT : 0U), EPOLL_CTL_MOD);
        connection.watching_output = want_output;
      }
    }
  }
  connections.clear();
  ::unlink(socket_path_.c_str());
  return 0;
}

}  // namespace drl::bench
