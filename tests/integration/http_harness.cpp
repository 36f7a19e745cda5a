#include "http_harness.hpp"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Closes a file descriptor on every way out of a scope.
struct Fd {
  int fd = -1;
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

sockaddr_in loopback(std::uint16_t port, const char* address = "127.0.0.1") {
  sockaddr_in out{};
  out.sin_family = AF_INET;
  out.sin_port = htons(port);
  if (::inet_pton(AF_INET, address, &out.sin_addr) != 1) {
    throw std::runtime_error(std::string("not an IPv4 address: ") + address);
  }
  return out;
}

// Waits until `fd` is readable (or writable), up to `deadline`; false on timeout.
bool wait_fd(int fd, short events, SteadyClock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    if (left <= 0) return false;
    pollfd entry{fd, events, 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) throw std::runtime_error(errno_text("poll"));
  }
}

void send_all(int fd, std::string_view bytes, SteadyClock::time_point deadline) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd, POLLOUT, deadline)) throw std::runtime_error("send: timed out");
    } else if (n < 0 && errno != EINTR) {
      throw std::runtime_error(errno_text("send"));
    }
  }
}

// Reads until end of stream (the peer closed), or throws at the deadline.
std::string read_to_end(int fd, SteadyClock::time_point deadline) {
  std::string out;
  char chunk[8192];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n > 0) {
      out.append(chunk, static_cast<std::size_t>(n));
    } else if (n == 0) {
      return out;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd, POLLIN, deadline)) {
        throw std::runtime_error("no whole answer in time; got so far: " + out);
      }
    } else if (errno == ECONNRESET) {
      return out;
    } else if (errno != EINTR) {
      throw std::runtime_error(errno_text("recv"));
    }
  }
}

// Splits "Name: value" lines (after the first line) into lower-cased names and trimmed values.
Headers parse_fields(std::string_view head) {
  Headers out;
  std::size_t at = head.find("\r\n");
  while (at != std::string_view::npos && at + 2 < head.size()) {
    const std::size_t begin = at + 2;
    const std::size_t end = head.find("\r\n", begin);
    const std::string_view line =
        head.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      out.emplace_back(lower(line.substr(0, colon)), std::string(value));
    }
    at = end;
  }
  return out;
}

std::string dechunk(std::string_view body) {
  std::string out;
  for (;;) {
    const std::size_t line_end = body.find("\r\n");
    if (line_end == std::string_view::npos) throw std::runtime_error("bad chunked body");
    const std::size_t size = std::stoul(std::string(body.substr(0, line_end)), nullptr, 16);
    if (size == 0) return out;
    if (body.size() < line_end + 2 + size + 2) throw std::runtime_error("short chunked body");
    out.append(body.substr(line_end + 2, size));
    body.remove_prefix(line_end + 2 + size + 2);
  }
}

// The process groups of the ChildProcesses alive, for the signal handler.
constexpr std::size_t kGroupSlots = 16;
std::array<std::atomic<pid_t>, kGroupSlots> g_groups{};
struct sigaction g_previous[NSIG];

void kill_groups_and_chain(int signum) {
  for (auto& slot : g_groups) {
    const pid_t group = slot.load();
    if (group > 0) ::kill(-group, SIGKILL);
  }
  // Then whatever was installed before (the daemon harness kills its drld, doctest reports).
  const struct sigaction& previous = g_previous[signum];
  if ((previous.sa_flags & SA_SIGINFO) == 0 && previous.sa_handler != SIG_DFL &&
      previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signum);
    return;
  }
  ::signal(signum, SIG_DFL);
  ::raise(signum);
}

// Installed at every spawn: doctest puts back the handlers it found after each test case.
void install_group_killer() {
  for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE}) {
    struct sigaction current {};
    ::sigaction(signum, nullptr, &current);
    if ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == kill_groups_and_chain) {
      continue;
    }
    g_previous[signum] = current;
    struct sigaction action {};
    action.sa_handler = kill_groups_and_chain;
    sigemptyset(&action.sa_mask);
    ::sigaction(signum, &action, nullptr);
  }
}

void register_group(pid_t group) {
  for (auto& slot : g_groups) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, group)) return;
  }
}

void unregister_group(pid_t group) {
  for (auto& slot : g_groups) {
    pid_t expected = group;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const auto& [field, value] : headers) {
    if (field == wanted) return value;
  }
  return std::nullopt;
}

std::size_t HttpResponse::header_count(std::string_view name) const {
  const std::string wanted = lower(name);
  return static_cast<std::size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const auto& field) { return field.first == wanted; }));
}

std::string HttpResponse::text() const {
  std::string out = "HTTP " + std::to_string(status) + "\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\n";
  return out + "\n" + body;
}

HttpResponse http_request(std::uint16_t port, std::string_view target,
                          const HttpRequestOptions& options) {
  const auto deadline = SteadyClock::now() + options.timeout;
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (socket.fd < 0) throw std::runtime_error(errno_text("socket"));
  if (!options.source_address.empty()) {
    const sockaddr_in source = loopback(0, options.source_address.c_str());
    if (::bind(socket.fd, reinterpret_cast<const sockaddr*>(&source), sizeof source) != 0) {
      throw std::runtime_error(errno_text("bind " + options.source_address));
    }
  }
  const sockaddr_in address = loopback(port);
  if (::connect(socket.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno != EINPROGRESS) throw std::runtime_error(errno_text("connect"));
    if (!wait_fd(socket.fd, POLLOUT, deadline)) throw std::runtime_error("connect: timed out");
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) {
      throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " +
                               std::strerror(error));
    }
  }
  std::string request = options.method + " " + std::string(target) + " HTTP/1.1\r\n" +
                        "Host: 127.0.0.1:" + std::to_string(port) + "\r\nConnection: close\r\n";
  for (const auto& [name, value] : options.headers) request += name + ": " + value + "\r\n";
  if (!options.body.empty() || options.method == "POST") {
    request += "Content-Length: " + std::to_string(options.body.size()) + "\r\n";
  }
  request += "\r\n" + options.body;
  send_all(socket.fd, request, deadline);

  const std::string raw = read_to_end(socket.fd, deadline);
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos) {
    throw std::runtime_error("not an HTTP answer: " + raw);
  }
  HttpResponse response;
  response.status = std::stoi(raw.substr(raw.find(' ') + 1, 3));
  response.headers = parse_fields(std::string_view(raw).substr(0, head_end));
  response.body = raw.substr(head_end + 4);
  if (lower(response.header("transfer-encoding").value_or("")) == "chunked") {
    response.body = dechunk(response.body);
  }
  return response;
}

std::uint16_t pick_tcp_port() {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.fd < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in address = loopback(0);
  if (::bind(socket.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    throw std::runtime_error(errno_text("bind"));
  }
  socklen_t size = sizeof address;
  ::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&address), &size);
  return ntohs(address.sin_port);
}

bool wait_for_port(std::uint16_t port, Millis timeout, const std::function<bool()>& still_alive) {
  return wait_until(
             [&] {
               if (!still_alive()) return true;
               Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
               const sockaddr_in address = loopback(port);
               return ::connect(socket.fd, reinterpret_cast<const sockaddr*>(&address),
                                sizeof address) == 0;
             },
             timeout, 10ms) &&
         still_alive();
}

std::uint16_t drld_http_port(const DaemonProcess& drld) {
  constexpr std::string_view kNeedle = "HTTP on 127.0.0.1:";
  std::uint16_t port = 0;
  wait_until(
      [&] {
        const std::string log = drld.log();
        const std::size_t at = log.find(kNeedle);
        if (at == std::string::npos) return false;
        port = static_cast<std::uint16_t>(std::stoul(log.substr(at + kNeedle.size())));
        return true;
      },
      5s);
  if (port == 0) throw std::runtime_error("drld reported no HTTP port; its log:\n" + drld.log());
  return port;
}

std::string replace_once(std::string text, std::string_view from, std::string_view to,
                         std::string_view what) {
  const std::size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    throw std::runtime_error(std::string(what) + ": expected '" + std::string(from) +
                             "' exactly once, to substitute a test address for it");
  }
  return text.replace(at, from.size(), to);
}

std::map<std::string, double> parse_metrics(std::string_view text) {
  std::map<std::string, double> out;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line.empty() || line.front() == '#') continue;
    // Label values may hold spaces: the value is after the last one.
    const std::size_t space = line.rfind(' ');
    if (space == std::string_view::npos) continue;
    out[std::string(line.substr(0, space))] = std::stod(std::string(line.substr(space + 1)));
  }
  return out;
}

std::string source_root() {
  const char* root = std::getenv("DRL_SOURCE_ROOT");
  if (root == nullptr || root[0] == '\0') {
    throw std::runtime_error("$DRL_SOURCE_ROOT is not set: run this test through `meson test`");
  }
  return root;
}

CountingUpstream::CountingUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error(errno_text("socket"));
  sockaddr_in address = loopback(0);
  socklen_t size = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0 ||
      ::pipe2(stop_pipe_, O_CLOEXEC) != 0) {
    const std::string error = errno_text("upstream listen");
    ::close(listen_fd_);
    throw std::runtime_error(error);
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

CountingUpstream::~CountingUpstream() {
  const char stop = 's';
  (void)!::write(stop_pipe_[1], &stop, 1);
  acceptor_.join();
  for (std::thread& connection : connections_) connection.join();
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

std::size_t CountingUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

std::vector<CountingUpstream::Seen> CountingUpstream::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

void CountingUpstream::accept_loop() {
  for (;;) {
    std::array<pollfd, 2> fds{pollfd{listen_fd_, POLLIN, 0}, pollfd{stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) connections_.emplace_back([this, fd] { serve(fd); });
  }
}

// One request per connection, answered with Connection: close. A connection that sends no
// whole request within 5 s (or before the test ends) is dropped uncounted.
void CountingUpstream::serve(int fd) {
  Fd connection(fd);
  const auto deadline = SteadyClock::now() + 5s;
  std::string raw;
  std::size_t head_end = std::string::npos;
  while (head_end == std::string::npos) {
    std::array<pollfd, 2> fds{pollfd{fd, POLLIN, 0}, pollfd{stop_pipe_[0], POLLIN, 0}};
    const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    if (left <= 0 || ::poll(fds.data(), fds.size(), static_cast<int>(left)) <= 0) return;
    if (fds[1].revents != 0) return;
    char chunk[4096];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return;
    raw.append(chunk, static_cast<std::size_t>(n));
    head_end = raw.find("\r\n\r\n");
  }
  Seen seen;
  const std::string_view head = std::string_view(raw).substr(0, head_end);
  const std::size_t first_space = head.find(' ');
  const std::size_t second_space = head.find(' ', first_space + 1);
  seen.method = std::string(head.substr(0, first_space));
  seen.target = std::string(head.substr(first_space + 1, second_space - first_space - 1));
  seen.headers = parse_fields(head);
  // The request body (if any) is not read: the answer closes the connection.

  int status = 200;
  if (seen.target.rfind("/status/", 0) == 0) status = std::stoi(seen.target.substr(8, 3));
  const std::string body = "upstream saw " + seen.method + " " + seen.target + "\n";
  {
    std::lock_guard lock(mutex_);
    seen_.push_back(std::move(seen));
  }
  const std::string answer =
      "HTTP/1.1 " + std::to_string(status) +
      " Upstream\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nX-Upstream: counted\r\nConnection: close\r\n\r\n" + body;
  try {
    send_all(fd, answer, SteadyClock::now() + 5s);
  } catch (const std::exception&) {
    // The proxy went away; the request was counted all the same.
  }
}

ChildProcess::ChildProcess(std::vector<std::string> argv, std::vector<std::string> extra_env,
                           std::string log_path)
    : log_path_(std::move(log_path)) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> args;
  for (std::string& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view name = text.substr(0, text.find('='));
    const bool overridden = std::any_of(extra_env.begin(), extra_env.end(), [&](const auto& e) {
      return std::string_view(e).substr(0, e.find('=')) == name;
    });
    if (!overridden) env_strings.emplace_back(text);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> env;
  for (std::string& entry : env_strings) env.push_back(entry.data());
  env.push_back(nullptr);
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error(errno_text("open " + log_path_));
  const pid_t parent = ::getpid();

  install_group_killer();
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(log_fd);
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int signum = 1; signum < NSIG; ++signum) ::signal(signum, SIG_DFL);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  ::close(log_fd);
  ::setpgid(pid_, pid_);  // also from here, so that the group exists before kill(-pid) is used
  register_group(pid_);
}

ChildProcess::~ChildProcess() {
  stop();
}

bool ChildProcess::running() {
  if (reaped_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped_ = true;
    return false;
  }
  return true;
}

std::string ChildProcess::log() const {
  return read_file(log_path_);
}

void ChildProcess::stop() {
  if (pid_ <= 0) return;
  if (!reaped_) {
    ::kill(-pid_, SIGTERM);
    if (!wait_until([this] { return !running(); }, 5s, 5ms)) {
      ::kill(-pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
    }
  }
  // Workers of a leader that exited (nginx's, after a fast shutdown) go with the group.
  ::kill(-pid_, SIGKILL);
  unregister_group(pid_);
  pid_ = -1;
}

HttpConnection::HttpConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
  if (fd_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect failed");
  }
}

HttpConnection::~HttpConnection() {
  ::close(fd_);
}

bool HttpConnection::send_raw(std::string_view bytes) {
  return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(bytes.size());
}

int HttpConnection::get(const std::string& target) {
  if (!send_raw("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return 0;
  return read_answer();
}

int HttpConnection::read_answer() {
  for (;;) {
    const std::size_t head_end = buffer_.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::string head = buffer_.substr(0, head_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::size_t length_at = head.find("\r\ncontent-length:");
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

bool HttpConnection::read_until_closed(std::string& out, Millis timeout) {
  out = std::move(buffer_);
  buffer_.clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) return false;
    char chunk[4096];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got == 0) return true;
    if (got < 0) return errno == ECONNRESET;
    out.append(chunk, static_cast<std::size_t>(got));
  }
}

}  // namespace drl::integration
