// drl-bench runs the Redis baselines (config/bench/*.lua, loaded with SCRIPT LOAD and called
// with EVALSHA) against a real redis-server and prints well-formed reports. Shape only, no
// timing asserted. Exits 77 (skipped) when redis-server is not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "background_process.hpp"
#include "bench_run.hpp"
#include "daemon_process.hpp"

namespace drl::integration {
namespace {

std::string redis_server_binary() {
  return find_executable(
      {"/usr/bin/redis-server", "/usr/local/bin/redis-server", "/usr/sbin/redis-server"});
}

// A private Redis: no persistence, no TCP, a Unix socket in `dir`.
class RedisServer {
 public:
  explicit RedisServer(const TempDir& dir)
      : socket_(dir.file("redis.sock")),
        process_({redis_server_binary(), "--save", "", "--appendonly", "no", "--port", "0",
                  "--unixsocket", socket_, "--unixsocketperm", "700", "--dir", dir.path()},
                 dir.file("redis.log")) {}

  const std::string& socket() const { return socket_; }
  bool wait_ready() { return process_.wait_for_socket(socket_); }
  std::string log() const { return process_.log(); }

 private:
  std::string socket_;
  BackgroundProcess process_;
};

std::vector<std::string> short_run(const std::string& target, const std::string& socket) {
  return {"--target",   target,     "--socket", socket,          "--duration",
          "800ms",      "--warmup", "200ms",    "--connections", "4",
          "--inflight", "4",        "--limit",  "1000000"};
}

TEST_CASE("bench: drl-bench drives Redis with the fixed and the sliding window scripts") {
  TempDir dir;
  RedisServer redis(dir);
  REQUIRE_MESSAGE(redis.wait_ready(), redis.log());
  for (const char* target : {"redis-fixed", "redis-sliding"}) {
    CAPTURE(target);
    const std::string run = run_bench_json(short_run(target, redis.socket()));
    CHECK(fields_not_positive(run, load_run_fields()).empty());
    CHECK(
        fields_not_positive(run, {"allowed", "server_cpu_percent", "limit", "window_ms"}).empty());
    CHECK(json_field(run, "target") == target);
    CHECK(json_uint(run, "errors") == 0);
  }
}

TEST_CASE("bench: the Redis scripts deny above the limit without counting the denied checks") {
  TempDir dir;
  RedisServer redis(dir);
  REQUIRE_MESSAGE(redis.wait_ready(), redis.log());
  for (const char* target : {"redis-fixed", "redis-sliding"}) {
    CAPTURE(target);
    // 3 keys, 5 per minute each: at most 15 checks are admitted, whatever the run's length.
    std::vector<std::string> args = short_run(target, redis.socket());
    args.insert(args.end(), {"--keys", "3", "--limit", "5", "--warmup", "0ms", "--key-prefix",
                             std::string(target) + ":"});
    const std::string run = run_bench_json(args);
    CHECK(json_uint(run, "errors") == 0);
    CHECK(json_uint(run, "allowed") <= 15);
    CHECK(json_uint(run, "denied") > 0);
  }
}

TEST_CASE("bench: --fill-keys reports Redis' used memory per key") {
  TempDir dir;
  RedisServer redis(dir);
  REQUIRE_MESSAGE(redis.wait_ready(), redis.log());
  const std::string fill =
      run_bench_json({"--target", "redis-fixed", "--socket", redis.socket(), "--fill-keys", "2000",
                      "--window", "1h", "--connections", "2", "--inflight", "16"});
  CHECK(json_field(fill, "mode") == "fill");
  CHECK(json_uint(fill, "keys_after") - json_uint(fill, "keys_before") == 2000);
  CHECK(fields_not_positive(fill, {"memory_bytes_per_key", "rss_bytes_after"}).empty());
}

}  // namespace
}  // namespace drl::integration

int main(int argc, char** argv) {
  if (drl::integration::redis_server_binary().empty()) {
    std::printf("SKIP: redis-server is not installed (scripts/setup.sh installs it)\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
