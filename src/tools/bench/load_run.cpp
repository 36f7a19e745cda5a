#include "tools/bench/load_run.hpp"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tools/bench/load_loop.hpp"
#include "tools/bench/process_stats.hpp"
#include "tools/bench/unix_socket.hpp"

namespace drl::bench {
namespace {

// Time for every thread to reach its loop before the common start.
constexpr std::int64_t kStartDelayNs = 50'000'000;

void sleep_until_ns(std::int64_t at_ns) {
  const std::int64_t left = at_ns - monotonic_ns();
  if (left > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(left));
}

std::optional<double> server_cpu(const TargetSession& session) {
  if (!session.server_pid()) return std::nullopt;
  return process_cpu_seconds(*session.server_pid());
}

// Thread `index` of `threads` gets a share of `total` that differs from the others by at most 1.
std::uint64_t share_of(std::uint64_t total, std::uint32_t threads, std::uint32_t index) {
  return total / threads + (index < total % threads ? 1 : 0);
}

}  // namespace

RunReport run_load(const BenchOptions& options, const TargetSession& session,
                   std::uint64_t check_budget) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::uint32_t threads = std::min(options.threads, options.connections);
  std::vector<std::vector<int>> fds(threads);
  try {
    for (std::uint32_t i = 0; i < options.connections; ++i) {
      fds[i % threads].push_back(connect_unix(options.socket_path, true));
    }
  } catch (...) {
    for (const auto& list : fds) {
      for (const int fd : list) ::close(fd);
    }
    throw;
  }

  LoadPlan plan;
  plan.inflight = options.inflight;
  plan.start_ns = monotonic_ns() + kStartDelayNs;
  if (check_budget == 0) {
    plan.measure_from_ns = plan.start_ns + static_cast<std::int64_t>(options.warmup_ms) * 1'000'000;
    plan.stop_ns =
        plan.measure_from_ns + static_cast<std::int64_t>(options.duration_ms) * 1'000'000;
  } else {
    plan.measure_from_ns = plan.start_ns;
    plan.stop_ns = INT64_MAX;
  }

  std::vector<std::unique_ptr<LoadLoop>> loops;
  for (std::uint32_t i = 0; i < threads; ++i) {
    LoadPlan own = plan;
    own.rate_per_s = options.rate_per_s / threads;
    if (check_budget != 0) {
      const std::uint64_t checks = share_of(check_budget, threads, i);
      own.request_budget = std::max<std::uint64_t>(1, (checks + options.batch - 1) / options.batch);
    }
    // A sequential walk gives thread i the ranks i, i + threads, ...: together, each key once.
    KeyGenerator keys(options.distribution, options.keys, options.zipf_exponent,
                      options.seed * 1'000'003 + i, options.key_prefix, i, threads);
    loops.push_back(std::make_unique<LoadLoop>(own, session.make_protocol(), std::move(keys),
                                               std::move(fds[i])));
  }

  std::vector<LoadResult> results(threads);
  std::vector<std::thread> running;
  for (std::uint32_t i = 0; i < threads; ++i) {
    running.emplace_back([&, i] { results[i] = loops[i]->run(); });
  }

  RunReport report;
  report.options = options;
  report.options.threads = threads;
  if (session.server_pid()) report.server_pid = *session.server_pid();
  sleep_until_ns(plan.measure_from_ns);
  const std::int64_t measured_from = monotonic_ns();
  const double own_cpu_before = own_cpu_seconds();
  const std::optional<double> server_cpu_before = server_cpu(session);
  std::optional<double> server_cpu_after;
  double own_cpu_after = 0;
  std::int64_t measured_to = 0;
  if (check_budget == 0) {
    sleep_until_ns(plan.stop_ns);
    measured_to = monotonic_ns();
    own_cpu_after = own_cpu_seconds();
    server_cpu_after = server_cpu(session);
  }
  for (std::thread& thread : running) thread.join();
  if (check_budget != 0) {
    measured_to = monotonic_ns();
    own_cpu_after = own_cpu_seconds();
    server_cpu_after = server_cpu(session);
  }

  report.measured_seconds = static_cast<double>(measured_to - measured_from) / 1e9;
  report.client_cpu_seconds = own_cpu_after - own_cpu_before;
  if (server_cpu_before && server_cpu_after)
    report.server_cpu_seconds = *server_cpu_after - *server_cpu_before;
  for (const LoadResult& result : results) {
    if (!result.error.empty()) throw std::runtime_error(result.error);
    report.requests += result.answered;
    report.tally.add(result.tally);
    report.sent += result.sent;
    report.backlog_max = std::max(report.backlog_max, result.backlog_max);
    report.latency.merge(result.latency);
  }
  return report;
}

}  // namespace drl::bench
