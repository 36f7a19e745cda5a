// Starting and stopping drld: clean shutdown on SIGTERM and SIGINT, restart over a stale socket,
// refusal to steal a socket in use, and the socket file's mode.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

std::uint32_t file_mode(const std::string& path) {
  struct stat info {};
  REQUIRE(::lstat(path.c_str(), &info) == 0);
  CHECK(S_ISSOCK(info.st_mode));
  return info.st_mode & 07777;
}

void expect_clean_exit_on(int signum) {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  REQUIRE(path_exists(drld.socket_path()));
  // An idle client holding a connection does not keep drld from stopping.
  drl::Client idle = drld.connect();
  REQUIRE(idle.ping().ok());

  drld.send_signal(signum);
  const std::optional<int> exit_code = drld.wait_exit(5s);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 0);
  CHECK_FALSE(path_exists(drld.socket_path()));
  // The connection was closed by the daemon, not left hanging.
  CHECK_FALSE(idle.ping().ok());
  // Every libuv handle was closed before the loop (drld warns otherwise).
  const std::string log = drld.log();
  CHECK(log.find("handles still open") == std::string::npos);
  CHECK(log.find("stopped") != std::string::npos);
}

TEST_CASE("shutdown: SIGTERM makes drld exit 0 and remove its socket file") {
  expect_clean_exit_on(SIGTERM);
}

TEST_CASE("shutdown: SIGINT makes drld exit 0 and remove its socket file") {
  expect_clean_exit_on(SIGINT);
}

TEST_CASE("restart: a stale socket file left by a SIGKILLed drld does not prevent a restart") {
  TempDir dir;
  {
    DaemonProcess crashed(dir, named("first"));
    crashed.require_ready();
    crashed.kill_hard();
    REQUIRE(crashed.wait_exit(1s) == 128 + SIGKILL);
    REQUIRE(path_exists(crashed.socket_path()));  // left behind: nobody removed it
  }
  DaemonProcess restarted(dir, named("second", dir.file("first.sock")));
  INFO("drld log:\n" << restarted.log());
  restarted.require_ready();
  drl::Client client = restarted.connect();
  const auto decision = client.check(drl::CheckRequest{"demo", "kim"});
  REQUIRE(decision.ok());
  CHECK(decision->allowed);
  CHECK(restarted.stop() == 0);
  CHECK_FALSE(path_exists(dir.file("first.sock")));
}

TEST_CASE(
    "startup: a second drld on a socket in use exits 1 with a clear message, and the first "
    "keeps serving") {
  TempDir dir;
  DaemonProcess first(dir, named("first"));
  first.require_ready();
  INFO("first drld log:\n" << first.log());

  DaemonProcess second(dir, named("second", first.socket_path()));
  const std::optional<int> exit_code = second.wait_exit(10s);
  INFO("second drld log:\n" << second.log());
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 1);
  CHECK(second.log().find(first.socket_path()) != std::string::npos);
  CHECK(second.log().find("another process") != std::string::npos);

  // The second did not remove or replace the first one's socket.
  CHECK(first.running());
  drl::Client client = first.connect();
  CHECK(client.ping().ok());
  CHECK(first.stop() == 0);
}

// Starting fails after the cluster node and its driver exist: what was built is torn down in
// the reverse order (the driver, which calls into the node, before the node). Under the
// sanitizer stage of scripts/test.sh, a use after free there would leave a report and fail.
TEST_CASE(
    "startup: with [cluster] on, an HTTP port in use exits 1 with the reason, tearing down "
    "cleanly") {
  const int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(holder >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(holder, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(holder, 1) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(holder, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string port = std::to_string(ntohs(address.sin_port));

  TempDir dir;
  DaemonProcess drld(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nwatch_config = false\n"
                                      "[http]\nlisten = \"127.0.0.1:" +
                                      port +
                                      "\"\n[cluster]\nbind = \"127.0.0.1:0\"\n"
                                      "[[policy]]\nname = \"api\"\nlimit = 5\nwindow = \"1m\"\n"));
  const std::optional<int> exit_code = drld.wait_exit(10s);
  INFO("drld log:\n" << drld.log());
  ::close(holder);
  REQUIRE(exit_code.has_value());
  CHECK(*exit_code == 1);
  CHECK(drld.log().find("127.0.0.1:" + port + ": Address already in use") != std::string::npos);
  CHECK_FALSE(path_exists(drld.socket_path()));
}

TEST_CASE("socket mode: the socket file is created 0660 by default") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  CHECK(file_mode(drld.socket_path()) == 0660);
}

TEST_CASE("socket mode: socket_mode = \"0600\" in [node] gives a 0600 socket file") {
  TempDir dir;
  DaemonProcess drld(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nsocket_mode = \"0600\"\n\n"
                                      "[[policy]]\nname = \"p\"\nlimit = 1\nwindow = \"1s\"\n"));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(file_mode(drld.socket_path()) == 0600);
}

TEST_CASE("startup: drld creates missing parent directories of its socket") {
  TempDir dir;
  const std::string socket = dir.file("run/drl/drld.sock");
  DaemonProcess drld(dir, named("drld", socket));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(path_exists(socket));
  CHECK(drld.stop() == 0);
  CHECK_FALSE(path_exists(socket));
}

}  // namespace
}  // namespace drl::integration
