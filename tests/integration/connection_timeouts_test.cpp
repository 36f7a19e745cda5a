// Hostile clients and the connection timeouts: one that sends part of a frame and stops
// (slowloris), one that connects and sends nothing, one that never reads its answers. Each is
// closed when its timeout passes, counted, and nobody else waits meanwhile.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "daemon_process.hpp"
#include "raw_connection.hpp"

using namespace drl::integration;
using namespace std::chrono_literals;

namespace {

const char* const kConfig = R"(
[node]
socket = "@SOCKET@"
[bounds]
idle_timeout = "2s"
frame_timeout = "1s"
stalled_output_timeout = "2s"
max_pending_output_bytes = 65536
[[policy]]
name = "p"
limit = 1000000
window = "1m"
)";

}  // namespace

TEST_CASE("timeouts: a client that sends half a frame and stops is closed after frame_timeout") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  RawConnection slow(drld.socket_path());
  const std::string frame = check_frame(1, "p", "k", 1);
  slow.send_bytes(frame.substr(0, frame.size() / 2));
  // Meanwhile another client is served at once.
  RawConnection other(drld.socket_path());
  other.send_bytes(ping_frame(2));
  std::string body;
  CHECK(other.read_frame(body, 1s) == RawConnection::Read::frame);
  CHECK(slow.wait_closed(4s));
  CHECK(drld.status_uint("connections_timed_out_frame") == 1);
}

TEST_CASE("timeouts: a client dripping one byte a second is closed: the frame must complete") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  RawConnection drip(drld.socket_path());
  const std::string frame = check_frame(1, "p", "k", 1);
  bool closed = false;
  for (std::size_t i = 0; i < frame.size() && !closed; ++i) {
    try {
      drip.send_bytes(frame.substr(i, 1), 1s);
    } catch (const std::exception&) {
      closed = true;  // the server hung up while we were still sending
      break;
    }
    std::string body;
    closed = drip.read_frame(body, 400ms) == RawConnection::Read::closed;
  }
  CHECK((closed || drip.wait_closed(3s)));
  CHECK(drld.status_uint("connections_timed_out_frame") == 1);
}

TEST_CASE(
    "timeouts: a connection that stays silent is closed after idle_timeout, a busy one is not") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  RawConnection silent(drld.socket_path());
  RawConnection busy(drld.socket_path());
  const auto until = std::chrono::steady_clock::now() + 3500ms;
  std::uint64_t id = 1;
  while (std::chrono::steady_clock::now() < until) {
    busy.send_bytes(ping_frame(id++));
    std::string body;
    REQUIRE(busy.read_frame(body, 1s) == RawConnection::Read::frame);
    std::this_thread::sleep_for(200ms);
  }
  CHECK(silent.wait_closed(1s));
  std::string body;
  busy.send_bytes(ping_frame(id));
  CHECK(busy.read_frame(body, 1s) == RawConnection::Read::frame);
  CHECK(drld.status_uint("connections_timed_out_idle") == 1);
}

TEST_CASE(
    "timeouts: a client that never reads its answers is closed after stalled_output_timeout") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(kConfig));
  drld.require_ready();
  RawConnection greedy(drld.socket_path());
  // Send requests without reading until the server stops taking them (its output is full).
  const std::string frame = ping_frame(1);
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += frame;
  const auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until && greedy.send_some(burst) > 0) {
  }
  // Wait without reading: reading would un-stall it.
  const auto deadline = std::chrono::steady_clock::now() + 6s;
  while (drld.status_uint("connections_timed_out_stalled_output") == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK(drld.status_uint("connections_timed_out_stalled_output") == 1);
  CHECK(greedy.wait_closed(2s));
  // Others were never stuck behind it.
  RawConnection other(drld.socket_path());
  other.send_bytes(ping_frame(9));
  std::string body;
  CHECK(other.read_frame(body, 1s) == RawConnection::Read::frame);
}
