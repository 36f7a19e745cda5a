// A server process the integration harness has no class for (the drl-bench echo server,
// redis-server), run for the length of a test. It is started with PR_SET_PDEATHSIG, so that it
// dies with the test process even when that is killed; the destructor stops and reaps it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "daemon_process.hpp"

namespace drl::integration {

class BackgroundProcess {
 public:
  // Runs argv (argv[0] an absolute path) with stdout and stderr appended to `log_path`.
  BackgroundProcess(const std::vector<std::string>& argv, std::string log_path);
  ~BackgroundProcess();  // SIGTERM, then SIGKILL after 5 s; always reaped
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  std::string log() const { return read_file(log_path_); }

  // Polls until `path` is a socket that accepts a connection; false if the process exited or
  // `timeout` passed first.
  bool wait_for_socket(const std::string& path, Millis timeout = 10s);

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// The first of `candidates` that is an executable file, or "" if none is.
std::string find_executable(const std::vector<std::string>& candidates);

}  // namespace drl::integration
