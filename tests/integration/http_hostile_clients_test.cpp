// Hostile HTTP clients against drld's decision endpoint, which nginx and Caddy depend on: five
// thousand connections that send nothing, sixteen that drip a request a byte at a time
// (slowloris), connections beyond max_connections, and requests framed to be read two ways
// (request smuggling). Meanwhile a proxy's checks must be answered as usual, and /metrics too.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

constexpr std::size_t kIdleConnectionsWanted = 5000;
constexpr std::size_t kSlowlorisConnections = 16;
constexpr std::size_t kChecksMeasured = 100;

// A plain TCP connection that the test holds open and writes to by hand.
class RawTcp {
 public:
  explicit RawTcp(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 &&
                 ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawTcp() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawTcp(const RawTcp&) = delete;
  RawTcp& operator=(const RawTcp&) = delete;

  bool connected() const { return connected_; }
  bool send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
           static_cast<ssize_t>(bytes.size());
  }
  // True once the server closed the connection (without waiting).
  bool closed_by_server() {
    char byte = 0;
    const ssize_t got = ::recv(fd_, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
    return got == 0 || (got < 0 && errno == ECONNRESET);
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::uint64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

double metric(std::uint16_t port, const std::string& series) {
  const HttpResponse response = http_request(port, "/metrics");
  REQUIRE(response.status == 200);
  const auto samples = parse_metrics(response.body);
  const auto it = samples.find(series);
  REQUIRE_MESSAGE(it != samples.end(), series << " not in /metrics");
  return it->second;
}

// Latencies of `count` checks: each on a new connection (as a proxy without keep-alive does),
// and each on one kept-alive connection; the p50 and p99 of both together. `between(i)` runs
// before the i-th pair, untimed.
struct Latency {
  std::int64_t p50_us = 0;
  std::int64_t p99_us = 0;
  std::int64_t max_us = 0;
  int failures = 0;
};

Latency measure_checks(std::uint16_t port, const std::string& key, std::size_t count,
                       const std::function<void(std::size_t)>& between = {}) {
  std::vector<std::int64_t> samples;
  Latency out;
  HttpConnection kept(port);
  for (std::size_t i = 0; i < count; ++i) {
    if (between) between(i);
    const auto began = SteadyClock::now();
    const HttpResponse fresh = http_request(port, "/v1/check/api?key=" + key);
    const auto fresh_done = SteadyClock::now();
    const int status = kept.get("/v1/check/api?key=" + key);
    const auto ended = SteadyClock::now();
    if (fresh.status != 200) ++out.failures;
    if (status != 200) ++out.failures;
    samples.push_back(std::chrono::duration_cast<Micros>(fresh_done - began).count());
    samples.push_back(std::chrono::duration_cast<Micros>(ended - fresh_done).count());
  }
  std::sort(samples.begin(), samples.end());
  out.p50_us = samples[samples.size() / 2];
  out.p99_us = samples[samples.size() * 99 / 100];
  out.max_us = samples.back();
  return out;
}

const char* const kConfig = R"([node]
socket = "@SOCKET@"
workers = 1

[http]
listen = "127.0.0.1:0"
request_timeout = "3s"

[[policy]]
name = "api"
limit = 1000000
window = "1h"

[[policy]]
name = "small"
limit = 3
window = "1h"
)";

TEST_CASE(
    "http hostile clients: with 5000 idle connections and 16 slowloris open, checks are answered "
    "within their usual latency and /metrics answers; the slow ones are closed by "
    "request_timeout") {
  const std::size_t idle_wanted = connections_this_process_can_hold(kIdleConnectionsWanted + 100);
  if (idle_wanted < 1000) {
    MESSAGE("SKIP: the open files limit allows too few connections (" << idle_wanted << ")");
    return;
  }
  const std::size_t idle_count = std::min(idle_wanted - 100, kIdleConnectionsWanted);
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);

  const Latency before = measure_checks(port, "before", kChecksMeasured);
  const std::uint64_t rss_before_kib = rss_kib(drld.pid());

  std::vector<std::unique_ptr<RawTcp>> idle;
  for (std::size_t i = 0; i < idle_count; ++i) {
    idle.push_back(std::make_unique<RawTcp>(port));
    REQUIRE(idle.back()->connected());
  }
  std::vector<std::unique_ptr<RawTcp>> slow;
  for (std::size_t i = 0; i < kSlowlorisConnections; ++i) {
    slow.push_back(std::make_unique<RawTcp>(port));
    REQUIRE(slow.back()->connected());
    REQUIRE(slow.back()->send("GET /v1/check/api?key=slow HTTP/1.1\r\nX-Pad: "));
  }
  REQUIRE(wait_until(
      [&] {
        return metric(port, "drl_http_connections_open") >=
               static_cast<double>(idle_count + kSlowlorisConnections);
      },
      10s, 50ms));
  const std::uint64_t rss_crowd_kib = rss_kib(drld.pid());

  // The slowloris connections each send one more byte before every tenth check: their requests
  // never end, and each read of theirs is work for the endpoint's threads.
  const Latency during = measure_checks(port, "during", kChecksMeasured, [&slow](std::size_t i) {
    if (i % 10 == 0) {
      for (auto& connection : slow) connection->send("x");
    }
  });
  const HttpResponse metrics = http_request(port, "/metrics");
  const double open_now = metric(port, "drl_http_connections_open");

  MESSAGE("checks before the crowd: p50 " << before.p50_us << " us, p99 " << before.p99_us
                                          << " us, max " << before.max_us << " us");
  MESSAGE("checks with " << idle_count << " idle and " << kSlowlorisConnections
                         << " slowloris connections open: p50 " << during.p50_us << " us, p99 "
                         << during.p99_us << " us, max " << during.max_us << " us");
  MESSAGE("drld RSS " << rss_before_kib << " kB before, " << rss_crowd_kib << " kB with "
                      << idle_count + kSlowlorisConnections << " connections open ("
                      << (rss_crowd_kib - std::min(rss_crowd_kib, rss_before_kib)) * 1024 /
                             (idle_count + kSlowlorisConnections)
                      << " bytes each)");
  CHECK(before.failures == 0);
  CHECK(during.failures == 0);
  CHECK(metrics.status == 200);
  CHECK(open_now >= static_cast<double>(idle_count));
  // The issue's bound, generous for a shared 2-core machine: a thread per connection made a
  // check wait 6 s behind 16 idle connections, and fail to connect behind 5000.
  CHECK(during.p99_us < 50'000);
  // Idle connections cost memory, within a bound: a few kilobytes each at most.
  CHECK(rss_crowd_kib < rss_before_kib + (idle_count + kSlowlorisConnections) * 8);

  // request_timeout (3 s) closes the slowloris connections; the idle ones stay (idle_timeout
  // is 75 s) and are not counted as slow.
  REQUIRE(wait_until(
      [&] {
        return std::all_of(slow.begin(), slow.end(),
                           [](const auto& connection) { return connection->closed_by_server(); });
      },
      10s, 100ms));
  CHECK(metric(port, "drl_http_connections_timed_out_total{reason=\"request\"}") ==
        static_cast<double>(kSlowlorisConnections));
  CHECK(metric(port, "drl_http_connections_timed_out_total{reason=\"idle\"}") == 0);
  CHECK_FALSE(idle.front()->closed_by_server());
}

TEST_CASE(
    "http hostile clients: at max_connections a new connection takes the place of the one silent "
    "longest, so idle connections cannot keep a proxy out") {
  TempDir dir;
  // The same endpoint with a bound of 50 connections.
  const std::string config =
      replace_once(kConfig, "request_timeout = \"3s\"", "max_connections = 50", "config");
  DaemonProcess bounded(dir, with_config(config));
  bounded.require_ready();
  INFO("bounded drld log:\n" << bounded.log());
  const std::uint16_t port = drld_http_port(bounded);

  std::vector<std::unique_ptr<RawTcp>> idle;
  for (int i = 0; i < 50; ++i) {
    idle.push_back(std::make_unique<RawTcp>(port));
    REQUIRE(idle.back()->connected());
  }
  // Counters are read over the Unix socket: a scrape of /metrics would be one more connection.
  REQUIRE(wait_until([&] { return bounded.status_uint("http_connections_open") >= 50; }, 5s, 20ms));
  // Ten more connections that send nothing: each takes the place of the oldest.
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<RawTcp>(port));
    REQUIRE(idle.back()->connected());
  }
  REQUIRE(
      wait_until([&] { return bounded.status_uint("http_connections_evicted") >= 10; }, 5s, 20ms));
  CHECK(bounded.status_uint("http_connections_evicted") == 10);
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(wait_until([&] { return idle[static_cast<std::size_t>(i)]->closed_by_server(); }, 2s,
                     10ms));
  }
  CHECK_FALSE(idle[10]->closed_by_server());
  // A proxy's check still gets through (its connection evicts one more).
  CHECK(http_request(port, "/v1/check/api?key=proxy").status == 200);
  CHECK(bounded.status_uint("http_connections_open") <= 50);
  CHECK_FALSE(idle.back()->closed_by_server());
}

// UndefinedBehaviorSanitizer's vptr check tests that a vtable is readable with a pipe before it
// reads it: in a drld out of descriptors on purpose the pipe fails, every object looks as if its
// vptr were invalid, and the report cannot even be written (log_path). No suppression applies to
// an object whose type cannot be read, so under UBSan this case is skipped (the plain build of
// scripts/test.sh runs it).
TEST_CASE(
    "http hostile clients: out of file descriptors, a new connection still takes the place of the "
    "one silent longest instead of being turned away" *
    doctest::skip(DRL_UNDER_UBSAN != 0)) {
  TempDir dir;
  DaemonOptions options = with_config(kConfig);
  // 64 descriptors in all: a few dozen connections use up what drld has left.
  options.command_prefix = {"/usr/bin/prlimit", "--nofile=64:64", "--"};
  DaemonProcess limited(dir, options);
  limited.require_ready();
  INFO("drld log:\n" << limited.log());
  const std::uint16_t port = drld_http_port(limited);
  std::vector<std::unique_ptr<RawTcp>> idle;
  for (int i = 0; i < 100; ++i) {
    idle.push_back(std::make_unique<RawTcp>(port));
    REQUIRE(idle.back()->connected());
  }
  // Every connection beyond the descriptors evicted an older one: the newest are open. (Read over
  // HTTP: the Unix socket, without a descriptor to spare, turns a status request away.)
  REQUIRE(wait_until([&] { return metric(port, "drl_http_connections_evicted_total") >= 40; }, 5s,
                     20ms));
  for (int i = 0; i < 10; ++i) {
    CAPTURE(i);
    CHECK(http_request(port, "/v1/check/api?key=proxy").status == 200);
  }
  CHECK(metric(port, "drl_http_connections_open") < 64);
  CHECK(metric(port, "drl_http_connections_rejected_total{reason=\"out_of_fds\"}") == 0);
  CHECK(idle.front()->closed_by_server());
  CHECK_FALSE(idle.back()->closed_by_server());
}

TEST_CASE(
    "http hostile clients: requests framed to be read two ways get 400 and a close, and what "
    "follows them is never counted") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);

  // Each attempt hides a check of key "smuggled" after a request whose end is ambiguous.
  const std::string hidden = "GET /v1/check/small?key=smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::vector<std::string> attempts = {
      "POST /v1/check/small?key=front HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
      "Content-Length: " +
          std::to_string(hidden.size()) + "\r\n\r\n" + hidden,
      "POST /v1/check/small?key=front HTTP/1.1\r\nHost: x\r\nContent-Length: " +
          std::to_string(5 + hidden.size()) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
          hidden,
      "POST /v1/check/small?key=front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "Content-Length: 3\r\n\r\n0\r\n\r\n" +
          hidden,
      "POST /v1/check/small?key=front HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
      "\r\n0\r\n\r\n" +
          hidden,
  };
  for (const std::string& attempt : attempts) {
    CAPTURE(attempt);
    HttpConnection connection(port);
    REQUIRE(connection.send_raw(attempt));
    std::string answer;
    CHECK(connection.read_until_closed(answer));
    CHECK(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
    CHECK(answer.find("HTTP/1.1", 1) == std::string::npos);  // one answer only
  }
  CHECK(metric(port, "drl_http_requests_refused_total{reason=\"ambiguous_framing\"}") ==
        static_cast<double>(attempts.size()));
  // Neither the front request nor the hidden one was counted: three checks of each key still
  // fit the limit of 3.
  for (const char* key : {"front", "smuggled"}) {
    for (int i = 0; i < 3; ++i) {
      CAPTURE(key);
      CHECK(http_request(port, std::string("/v1/check/small?key=") + key).status == 200);
    }
  }
}

TEST_CASE("http hostile clients: an encoded NUL in the path is refused, not cut off") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::uint16_t port = drld_http_port(drld);
  // Cut at the NUL, this would be a check of "small".
  for (int i = 0; i < 5; ++i) {
    const HttpResponse response = http_request(port, "/v1/check/small%00x?key=nul");
    CHECK(response.status == 400);
  }
  CHECK(metric(port, "drl_http_requests_refused_total{reason=\"bad_target\"}") == 5);
  CHECK(http_request(port, "/v1/check/small?key=nul").status == 200);
}

}  // namespace
}  // namespace drl::integration
