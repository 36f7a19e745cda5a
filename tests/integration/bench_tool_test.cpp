// drl-bench runs against a real drld and against its own echo server, and prints well-formed
// reports: one JSON line per run, with the fields docs/benchmarks.md describes. Shape only; no
// timing is asserted (benchmarks report numbers, they do not pass or fail on them).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "background_process.hpp"
#include "bench_run.hpp"
#include "daemon_process.hpp"

namespace drl::integration {
namespace {

const char* const kBenchConfig = R"(
[node]
socket = "@SOCKET@"
log_level = "warn"

[[policy]]
name = "bench-fixed"
limit = 1000000000
window = "1m"
algorithm = "fixed"

[[policy]]
name = "tight-sliding"
limit = 5
window = "1m"
)";

// A short run: about a second of load.
std::vector<std::string> short_run(const std::string& target, const std::string& socket) {
  return {"--target", target,  "--socket",      socket, "--duration", "800ms",
          "--warmup", "200ms", "--connections", "4",    "--inflight", "4"};
}

std::vector<std::string> with(std::vector<std::string> args, std::vector<std::string> more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST_CASE("bench: drl-bench drives drld with checks and batches and reports one JSON line each") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kBenchConfig));
  drld.require_ready();

  const std::string single = run_bench_json(short_run("drl", drld.socket_path()));
  CHECK(fields_not_positive(single, load_run_fields()).empty());
  CHECK(fields_not_positive(single, {"allowed", "server_cpu_us_per_check"}).empty());
  CHECK(json_field(single, "target") == "drl");
  CHECK(json_uint(single, "errors") == 0);
  CHECK(json_uint(single, "checks") == json_uint(single, "requests"));

  const std::string batch =
      run_bench_json(with(short_run("drl", drld.socket_path()), {"--batch", "8"}));
  CHECK(fields_not_positive(batch, load_run_fields()).empty());
  CHECK(json_uint(batch, "checks") == 8 * json_uint(batch, "requests"));
  CHECK(json_uint(batch, "errors") == 0);

  // Denials are counted as such, not as errors.
  const std::string denied = run_bench_json(
      with(short_run("drl", drld.socket_path()), {"--policy", "tight-sliding", "--keys", "10"}));
  CHECK(fields_not_positive(denied, {"denied", "checks_per_s"}).empty());
  CHECK(json_uint(denied, "errors") == 0);
}

TEST_CASE("bench: an open-loop run at a fixed rate and a Zipf key stream report latencies") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kBenchConfig));
  drld.require_ready();
  const std::string open =
      run_bench_json(with(short_run("drl", drld.socket_path()),
                          {"--rate", "2000", "--distribution", "zipf", "--threads", "2"}));
  CHECK(fields_not_positive(open, load_run_fields()).empty());
  CHECK(json_field(open, "loop") == "open");
  CHECK(json_field(open, "distribution") == "zipf");
}

TEST_CASE("bench: the echo server answers the same request frames and is measured the same way") {
  TempDir dir;
  const std::string socket = dir.file("echo.sock");
  BackgroundProcess echo({drl_bench_binary(), "--echo-server", socket}, dir.file("echo.log"));
  REQUIRE_MESSAGE(echo.wait_for_socket(socket), echo.log());

  const std::string run =
      run_bench_json(with(short_run("echo", socket), {"--server-pid", std::to_string(echo.pid())}));
  CHECK(fields_not_positive(run, load_run_fields()).empty());
  CHECK(fields_not_positive(run, {"server_cpu_percent"}).empty());
  CHECK(json_field(run, "target") == "echo");
  CHECK(json_uint(run, "errors") == 0);
}

TEST_CASE("bench: --fill-keys checks each key once and reports drld's bytes per key") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kBenchConfig));
  drld.require_ready();
  const std::string fill =
      run_bench_json({"--target", "drl", "--socket", drld.socket_path(), "--fill-keys", "5000",
                      "--batch", "50", "--connections", "2", "--inflight", "2"});
  CHECK(json_field(fill, "mode") == "fill");
  CHECK(json_uint(fill, "allowed") == 5000);
  CHECK(json_uint(fill, "keys_after") - json_uint(fill, "keys_before") == 5000);
  CHECK(fields_not_positive(
            fill, {"memory_bytes_after", "memory_bytes_per_key", "rss_bytes_after", "server_pid"})
            .empty());
  CHECK(drld.status_uint("keys_tracked") == 5000);
}

}  // namespace
}  // namespace drl::integration
