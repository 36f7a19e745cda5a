#include "daemon_process.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Children still running, so that a test process killed by a signal (a meson timeout, a crash)
// takes them down instead of leaving daemons behind. Lock-free: read by a signal handler.
constexpr std::size_t kChildSlots = 64;
std::array<std::atomic<pid_t>, kChildSlots> g_children{};

void kill_children_and_die(int signum) {
  for (auto& slot : g_children) {
    const pid_t pid = slot.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  ::signal(signum, SIG_DFL);
  ::raise(signum);
}

void install_cleanup_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int signum : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS, SIGFPE}) {
      struct sigaction action {};
      action.sa_handler = kill_children_and_die;
      sigemptyset(&action.sa_mask);
      ::sigaction(signum, &action, nullptr);
    }
  });
}

// At start-up, before doctest installs its own handlers around each test case: doctest chains
// to the handlers it found, so these still run when a test process is killed mid-test.
[[maybe_unused]] const bool g_cleanup_handlers_installed = (install_cleanup_handlers(), true);

void register_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void unregister_child(pid_t pid) {
  for (auto& slot : g_children) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0)) return;
  }
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Spawns `argv` with default signal dispositions and an empty mask, whatever the test process
// (or doctest) installed; `actions` sets up its file descriptors.
pid_t spawn(const std::vector<std::string>& argv, const posix_spawn_file_actions_t* actions) {
  install_cleanup_handlers();
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int status = ::posix_spawn(&pid, args[0], actions, &attributes, args.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (status != 0) {
    throw std::runtime_error("posix_spawn " + argv[0] + ": " + std::strerror(status));
  }
  register_child(pid);
  return pid;
}

std::string env_or_throw(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || value[0] == '\0') {
    throw std::runtime_error(std::string("$") + name +
                             " is not set: run this test through `meson test`");
  }
  return value;
}

void write_all(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(errno_text("write " + path));
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (std::size_t at = text.find(from); at != std::string::npos;
       at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

}  // namespace

std::string drld_binary() {
  return env_or_throw("DRLD");
}
std::string drl_binary() {
  return env_or_throw("DRL");
}

bool wait_until(const std::function<bool()>& condition, Millis timeout, Millis interval) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::int64_t wall_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  // Unix socket paths are short (108 bytes): keep the directory name short too.
  std::string pattern =
      std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/drl-it-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp"));
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

void write_file_in_place(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(errno_text("open " + path));
  try {
    write_all(fd, text, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
}

void replace_file(const std::string& path, std::string_view text) {
  const std::string temporary = path + ".new";
  write_file_in_place(temporary, text);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    throw std::runtime_error(errno_text("rename " + temporary + " to " + path));
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool path_exists(const std::string& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0;
}

CommandResult run_command(const std::vector<std::string>& argv, Millis timeout) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error(errno_text("pipe2"));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid = -1;
  try {
    pid = spawn(argv, &actions);
  } catch (...) {
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);

  CommandResult result;
  std::array<pollfd, 2> fds{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  const auto deadline = SteadyClock::now() + timeout;
  bool killed = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char chunk[4096];
      const ssize_t n = ::read(fds[i].fd, chunk, sizeof chunk);
      if (n > 0) {
        sinks[i]->append(chunk, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (const pollfd& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  unregister_child(pid);
  result.exit_code = exit_code_of(status);
  if (killed)
    result.err +=
        "\n[killed by the test harness after " + std::to_string(timeout.count()) + " ms]\n";
  return result;
}

CommandResult run_drl(const std::vector<std::string>& args, Millis timeout) {
  std::vector<std::string> argv{drl_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

CommandResult run_drld(const std::vector<std::string>& args, Millis timeout) {
  std::vector<std::string> argv{drld_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout);
}

std::optional<std::string> json_field(std::string_view json, std::string_view name) {
  // The first occurrence is the top-level one: drl prints top-level fields before nested ones.
  const std::string needle = "\"" + std::string(name) + "\":";
  const std::size_t at = json.find(needle);
  if (at == std::string_view::npos) return std::nullopt;
  std::size_t begin = at + needle.size();
  if (begin < json.size() && json[begin] == '"') {
    const std::size_t end = json.find('"', begin + 1);
    if (end == std::string_view::npos) return std::nullopt;
    return std::string(json.substr(begin + 1, end - begin - 1));
  }
  std::size_t end = begin;
  while (end < json.size() && json[end] != ',' && json[end] != '}' && json[end] != ']') ++end;
  return std::string(json.substr(begin, end - begin));
}

std::uint64_t json_uint(std::string_view json, std::string_view name) {
  const std::optional<std::string> value = json_field(json, name);
  if (!value) {
    throw std::runtime_error("no field '" + std::string(name) + "' in " + std::string(json));
  }
  return std::stoull(*value);
}

DaemonProcess::DaemonProcess(const TempDir& dir, DaemonOptions options)
    : socket_path_(options.socket_path.empty() ? dir.file(options.name + ".sock")
                                               : options.socket_path),
      log_path_(dir.file(options.name + ".log")) {
  std::vector<std::string> argv = options.command_prefix;
  argv.push_back(drld_binary());
  if (options.config_text.empty()) {
    argv.insert(argv.end(), {"--socket", socket_path_});
  } else {
    const std::string conf_dir = dir.file("conf");
    if (::mkdir(conf_dir.c_str(), 0755) != 0 && errno != EEXIST) {
      throw std::runtime_error(errno_text("mkdir " + conf_dir));
    }
    config_path_ = conf_dir + "/" + options.name + ".toml";
    if (options.log_beside_config) log_path_ = conf_dir + "/" + options.name + ".log";
    write_file_in_place(config_path_, replace_all(options.config_text, "@SOCKET@", socket_path_));
    argv.insert(argv.end(), {"--config", config_path_});
  }
  argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  try {
    pid_ = spawn(argv, &actions);
  } catch (...) {
    posix_spawn_file_actions_destroy(&actions);
    throw;
  }
  posix_spawn_file_actions_destroy(&actions);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !exit_code_) kill_hard();
}

void DaemonProcess::reap(int status) {
  exit_code_ = exit_code_of(status);
  unregister_child(pid_);
}

bool DaemonProcess::running() {
  if (exit_code_) return false;
  int status = 0;
  const pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
  if (reaped == pid_) {
    reap(status);
    return false;
  }
  return true;
}

bool DaemonProcess::wait_ready(Millis timeout) {
  return wait_until(
             [this] {
               if (!running()) return true;  // ends the wait; the answer is below
               auto client = drl::Client::connect(socket_path_, drl::Client::Options{1000ms});
               return client.ok() && client->ping().ok();
             },
             timeout) &&
         running();
}

void DaemonProcess::require_ready(Millis timeout) {
  if (!wait_ready(timeout)) {
    throw std::runtime_error("drld did not answer on " + socket_path_ + " (" +
                             (running() ? "still running" : "exited") + "); its log:\n" + log());
  }
}

std::string DaemonProcess::log() const {
  return read_file(log_path_);
}

void DaemonProcess::send_signal(int signum) const {
  if (::kill(pid_, signum) != 0) throw std::runtime_error(errno_text("kill"));
}

std::optional<int> DaemonProcess::wait_exit(Millis timeout) {
  wait_until([this] { return !running(); }, timeout, 2ms);
  return exit_code_;
}

std::optional<int> DaemonProcess::stop(Millis timeout) {
  if (running()) send_signal(SIGTERM);
  return wait_exit(timeout);
}

void DaemonProcess::kill_hard() {
  if (exit_code_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reap(status);
}

drl::Client DaemonProcess::connect() const {
  auto client = drl::Client::connect(socket_path_, drl::Client::Options{5000ms});
  if (!client.ok()) throw std::runtime_error("connect: " + client.error().message);
  return std::move(client.value());
}

std::uint64_t DaemonProcess::status_uint(std::string_view name) const {
  drl::Client client = connect();
  auto status = client.status();
  if (!status.ok()) throw std::runtime_error("status: " + status.error().message);
  for (const auto& [field, value] : status->fields) {
    if (field == name) return std::stoull(value);
  }
  throw std::runtime_error("status has no field '" + std::string(name) + "'");
}

std::size_t connections_this_process_can_hold(std::size_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
  ::getrlimit(RLIMIT_NOFILE, &limit);
  const std::uint64_t usable = limit.rlim_cur > 200 ? limit.rlim_cur - 200 : 0;
  return static_cast<std::size_t>(std::min<std::uint64_t>(usable, wanted));
}

}  // namespace drl::integration
