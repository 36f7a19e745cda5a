// Connections that push against drld's bounds: more than max_connections, and a client that
// sends without ever reading its answers.
#include <doctest/doctest.h>

#include <poll.h>
#include <signal.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "daemon_process.hpp"
#include "raw_connection.hpp"

namespace drl::integration {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Sends `frame` over and over without reading answers, until the socket stays full for 200 ms.
// Returns the bytes sent (the last frame may be cut short), or nothing if drld kept reading.
std::optional<std::size_t> send_until_blocked(RawConnection& connection, const std::string& frame) {
  std::string chunk;
  for (int i = 0; i < 256; ++i) chunk += frame;
  constexpr std::size_t kSendBytesMax = 256 * 1024 * 1024;
  std::size_t sent = 0;
  const auto deadline = SteadyClock::now() + 20s;
  while (sent < kSendBytesMax && SteadyClock::now() < deadline) {
    const std::size_t taken =
        connection.send_some(std::string_view(chunk).substr(sent % chunk.size()));
    sent += taken;
    if (taken == 0) {
      pollfd ready{connection.fd(), POLLOUT, 0};
      if (::poll(&ready, 1, 200) == 0) return sent;
    }
  }
  return std::nullopt;
}

const char* const kSlowReaderConfig = R"([node]
socket = "@SOCKET@"
workers = 2

[bounds]
max_pending_output_bytes = 4096

[[policy]]
name = "p"
limit = 100
window = "1h"
)";

// A connection that drld accepted and answers. The connections made while waiting for it to
// start may still be closing on its side, which can turn a first attempt away: retry.
std::optional<drl::Client> accepted_client(const DaemonProcess& drld) {
  std::optional<drl::Client> accepted;
  wait_until(
      [&] {
        auto client = drl::Client::connect(drld.socket_path(), drl::Client::Options{2000ms});
        if (!client.ok() || !client->ping().ok()) return false;
        accepted.emplace(std::move(client.value()));
        return true;
      },
      5s);
  return accepted;
}

TEST_CASE(
    "max_connections: the fifth connection gets an unavailable error frame and is closed; "
    "after one closes a new one works") {
  TempDir dir;
  DaemonProcess drld(dir, with_config("[node]\nsocket = \"@SOCKET@\"\n\n"
                                      "[bounds]\nmax_connections = 4\n\n"
                                      "[[policy]]\nname = \"p\"\nlimit = 100\nwindow = \"1h\"\n"));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  std::vector<drl::Client> held;
  for (int i = 0; i < 4; ++i) {
    std::optional<drl::Client> client = accepted_client(drld);
    REQUIRE(client.has_value());
    held.push_back(std::move(*client));
  }

  RawConnection fifth(drld.socket_path());
  std::string body;
  REQUIRE(fifth.read_frame(body) == RawConnection::Read::frame);
  const ResponseFields rejection = decode_response(body);
  CAPTURE(rejection.count("message") != 0 ? rejection.at("message") : std::string());
  CHECK(rejection.count("error") == 1);
  CHECK(rejection.at("error") == "unavailable");
  CHECK(rejection.at("message").find("max_connections") != std::string::npos);
  CHECK(fifth.wait_closed(5s));

  // The four held connections are unaffected.
  for (drl::Client& client : held) CHECK(client.ping().ok());

  held.pop_back();  // closes one
  std::optional<drl::Client> replacement = accepted_client(drld);
  REQUIRE(replacement.has_value());
  const auto decision = replacement->check(drl::CheckRequest{"p", "after"});
  REQUIRE(decision.ok());
  CHECK(decision->allowed);
  const auto status = replacement->status();
  REQUIRE(status.ok());
  for (const auto& [name, value] : status->fields) {
    if (name == "connections_rejected") CHECK(std::stoull(value) >= 1);
    if (name == "connections_open") CHECK(std::stoull(value) == 4);
  }
}

TEST_CASE(
    "slow reader: a client that never reads its answers does not stop other clients from "
    "being served promptly") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kSlowReaderConfig));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  // The greedy client pipelines pings and reads nothing, until its socket stays full: drld has
  // stopped reading from it rather than buffering answers without bound.
  RawConnection greedy(drld.socket_path());
  const std::string one_ping = ping_frame(1);
  const std::optional<std::size_t> sent = send_until_blocked(greedy, one_ping);
  REQUIRE(sent.has_value());
  MESSAGE("the greedy client got " << *sent << " bytes of pings in before its socket stayed full");

  // Meanwhile every other client is served at once, on every worker (connections are handed
  // out round robin, so some share the greedy client's worker).
  for (int i = 0; i < 6; ++i) {
    CAPTURE(i);
    const auto started = SteadyClock::now();
    auto client = drl::Client::connect(drld.socket_path(), drl::Client::Options{2000ms});
    REQUIRE(client.ok());
    const auto decision = client->check(drl::CheckRequest{"p", "other-" + std::to_string(i)});
    REQUIRE(decision.ok());
    CHECK(decision->allowed);
    REQUIRE(client->ping().ok());
    const auto took = std::chrono::duration_cast<Millis>(SteadyClock::now() - started);
    CAPTURE(took.count());
    CHECK(took < 1000ms);
  }

  // Once the greedy client reads, drld reads again: every ping sent is answered, none lost.
  // The last ping may be cut short: finish it while a reader thread drains the answers.
  const std::size_t rest = (one_ping.size() - *sent % one_ping.size()) % one_ping.size();
  const std::size_t expected = (*sent + rest) / one_ping.size();
  std::atomic<std::size_t> answered{0};
  std::atomic<bool> all_pongs{true};
  std::thread reader([&] {
    try {
      std::string body;
      while (answered.load() < expected) {
        if (greedy.read_frame(body, 10s) != RawConnection::Read::frame) return;
        if (decode_response(body).count("pong") != 1) all_pongs = false;
        ++answered;
      }
    } catch (const std::exception&) {
      all_pongs = false;  // an answer that is not a response at all
    }
  });
  try {
    greedy.send_bytes(one_ping.substr(one_ping.size() - rest), 10s);
  } catch (...) {
    reader.join();
    throw;
  }
  reader.join();
  CHECK(answered.load() == expected);
  CHECK(all_pongs.load());
  CHECK(drld.running());
}

TEST_CASE("shutdown: SIGTERM makes drld exit 0 promptly even with a client that never reads") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kSlowReaderConfig));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  RawConnection greedy(drld.socket_path());
  REQUIRE(send_until_blocked(greedy, ping_frame(1)).has_value());

  drld.send_signal(SIGTERM);
  const std::optional<int> exit_code = drld.wait_exit(5s);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 0);
  CHECK_FALSE(path_exists(drld.socket_path()));
  // The answers already written may still be read; then the connection ends.
  CHECK(greedy.wait_closed(5s));
}

}  // namespace
}  // namespace drl::integration
