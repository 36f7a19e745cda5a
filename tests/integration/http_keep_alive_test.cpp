// HTTP/1.1 keep-alive on drld's decision endpoint: many requests over one connection, each
// answered promptly. Proxies (Envoy, Caddy, nginx with `keepalive`) reuse their connections to
// drld, so an answer that waits on the connection's state costs every request.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kConfig = R"(
[node]
socket = "@SOCKET@"
workers = 1

[http]
listen = "127.0.0.1:0"

[[policy]]
name = "api"
limit = 1000
window = "1h"
)";

// One TCP connection to 127.0.0.1:port, requests written and answers read in turn.
class KeepAliveConnection {
 public:
  explicit KeepAliveConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("connect failed");
    }
  }
  ~KeepAliveConnection() { ::close(fd_); }
  KeepAliveConnection(const KeepAliveConnection&) = delete;
  KeepAliveConnection& operator=(const KeepAliveConnection&) = delete;

  // Sends a GET and reads its answer: the status code, or 0 if the connection closed first.
  int get(const std::string& target) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return 0;
    }
    for (;;) {
      const std::size_t head_end = buffer_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = buffer_.substr(0, head_end);
        const std::size_t length_at = lowercase(head).find("\r\ncontent-length:");
        const std::size_t body_bytes =
            length_at == std::string::npos
                ? 0
                : std::strtoull(head.c_str() + length_at + 17, nullptr, 10);
        if (buffer_.size() >= head_end + 4 + body_bytes) {
          const int status = std::atoi(head.c_str() + head.find(' ') + 1);
          buffer_.erase(0, head_end + 4 + body_bytes);
          return status;
        }
      }
      pollfd ready{fd_, POLLIN, 0};
      if (::poll(&ready, 1, 5000) <= 0) return 0;
      char chunk[4096];
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) return 0;
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }

 private:
  static std::string lowercase(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }

  int fd_;
  std::string buffer_;
};

TEST_CASE(
    "http keep-alive: fifty checks over one connection are all answered on it, none waiting on "
    "the client's delayed acknowledgement") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(std::string(kConfig)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);

  KeepAliveConnection connection(port);
  REQUIRE(connection.get("/v1/check/api?key=warm-up") == 200);
  constexpr int kRequests = 50;
  const auto started = SteadyClock::now();
  for (int i = 0; i < kRequests; ++i) {
    CAPTURE(i);
    REQUIRE(connection.get("/v1/check/api?key=k" + std::to_string(i)) == 200);
  }
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started);
  MESSAGE(kRequests << " requests over one connection in " << took.count() << " ms");
  // Nagle's algorithm against a delayed ACK costs about 40 ms per answer (2 s for fifty); the
  // answers themselves take well under a millisecond each.
  CHECK(took < std::chrono::milliseconds(1000));
}

}  // namespace
}  // namespace drl::integration
