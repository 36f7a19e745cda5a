// A target as a run sees it: the protocol objects for its load threads, the server's pid (for
// its CPU time), and its size. For Redis it loads the limiter script first (SCRIPT LOAD).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/server_admin.hpp"
#include "tools/bench/target_protocol.hpp"

namespace drl::bench {

class TargetSession {
 public:
  // Throws std::runtime_error when the server cannot be reached or set up.
  explicit TargetSession(const BenchOptions& options);

  // One per load thread.
  std::unique_ptr<TargetProtocol> make_protocol() const;

  // The server's pid: --server-pid, else what drld or Redis say; nothing for echo without it.
  std::optional<pid_t> server_pid() const { return server_pid_; }

  bool has_snapshot() const { return target_ != Target::echo; }
  ServerSnapshot snapshot() const;

 private:
  Target target_;
  std::string socket_path_;
  std::string policy_;
  std::uint32_t cost_;
  std::uint32_t batch_;
  std::uint64_t limit_;
  std::uint64_t window_ms_;
  std::string script_sha_;
  std::optional<pid_t> server_pid_;
};

}  // namespace drl::bench
