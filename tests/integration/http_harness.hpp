// Harness for the HTTP tests: drld's decision endpoint, and real reverse proxies (nginx, Caddy)
// in front of an upstream that counts what reaches it.
//
// - http_request: a blocking HTTP/1.1 client, one request per connection (Connection: close),
//   optionally from another loopback source address (127.0.0.2 ...), so that a proxy keyed on
//   the client address sees a second client.
// - CountingUpstream: the application behind the proxy. It answers every request with 200 (or
//   the status a "/status/NNN" path asks for) and records what it saw.
// - ChildProcess: a proxy process in a process group of its own (nginx forks workers), killed
//   with its whole group by the destructor, also when a check fails; if the test process is
//   killed by a signal, a handler kills the groups first; if it dies without one, the kernel
//   kills the group's leader (PR_SET_PDEATHSIG).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_process.hpp"

namespace drl::integration {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased, in the order received
  std::string body;

  // The first field named `name` (any case), or nothing.
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
  // Status line, fields and body, for failure messages.
  std::string text() const;
};

struct HttpRequestOptions {
  std::string method = "GET";
  Headers headers;
  std::string body;
  std::string source_address;  // a loopback address to connect from; empty: the kernel's choice
  Millis timeout = 5s;
};

// One request to 127.0.0.1:port; throws if the connection fails or no whole answer comes back
// within the timeout.
HttpResponse http_request(std::uint16_t port, std::string_view target,
                          const HttpRequestOptions& options = {});

// A TCP port on 127.0.0.1 that was free a moment ago (bound at port 0, then released).
std::uint16_t pick_tcp_port();

// Polls until 127.0.0.1:port accepts a connection or `timeout` passes.
bool wait_for_port(std::uint16_t port, Millis timeout, const std::function<bool()>& still_alive);

// The HTTP port drld reports in its "ready" log line ("HTTP on 127.0.0.1:PORT"); for a drld
// whose [http] listen asked for port 0. Throws with the log if there is none within 5 s.
std::uint16_t drld_http_port(const DaemonProcess& drld);

// Replaces the one occurrence of `from` in `text`; throws if there is not exactly one, so that
// a shipped config file that no longer holds the address a test substitutes fails loudly.
std::string replace_once(std::string text, std::string_view from, std::string_view to,
                         std::string_view what);

// The samples of a Prometheus text exposition, by series as written ("name{a=\"b\"}");
// comments and blank lines skipped.
std::map<std::string, double> parse_metrics(std::string_view text);

// The source tree ($DRL_SOURCE_ROOT, set by tests/meson.build).
std::string source_root();

// One TCP connection to 127.0.0.1:port that stays open: requests written and answers read in
// turn (HTTP/1.1 keep-alive), or raw bytes for requests no client library would send.
class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port);  // throws if the connection fails
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends a GET and reads its answer: the status code, or 0 if the connection closed first or
  // nothing came within 5 s.
  int get(const std::string& target);
  // Sends `bytes` as they are; false if the connection refused them.
  bool send_raw(std::string_view bytes);
  // Reads one answer: its status, or 0 as for get().
  int read_answer();
  // Everything until the server closes the connection (or `timeout` passes); true if it closed.
  bool read_until_closed(std::string& out, Millis timeout = 5s);

 private:
  int fd_;
  std::string buffer_;
};

class CountingUpstream {
 public:
  struct Seen {
    std::string method;
    std::string target;
    Headers headers;  // names lower-cased
  };

  CountingUpstream();  // listens on 127.0.0.1 at a port the kernel picks
  ~CountingUpstream();
  CountingUpstream(const CountingUpstream&) = delete;
  CountingUpstream& operator=(const CountingUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::size_t requests() const;
  std::vector<Seen> seen() const;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};
  std::uint16_t port_ = 0;
  mutable std::mutex mutex_;
  std::vector<Seen> seen_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

class ChildProcess {
 public:
  // Runs argv (argv[0] an absolute path) with the test's environment plus `extra_env`
  // ("NAME=value"), stdin from /dev/null, stdout and stderr to `log_path`.
  ChildProcess(std::vector<std::string> argv, std::vector<std::string> extra_env,
               std::string log_path);
  ~ChildProcess();  // stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  std::string log() const;
  // SIGTERM to the group, up to 5 s for the leader to exit, then SIGKILL to the group.
  void stop();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string log_path_;
};

}  // namespace drl::integration
