// The C++ examples of docs/integration.md are these files, built against libdrl alone (as an
// application would) and run here: the client against a real drld with the embedded default
// config ("demo": 5 per 10 s), the embedded limiter on its own. The doc must show each file
// verbatim, so that the code a reader copies is the code that was compiled and run.
#include <doctest/doctest.h>

#include <cstdlib>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

std::string example(const char* variable) {
  const char* path = std::getenv(variable);
  if (path == nullptr || path[0] == '\0') {
    throw std::runtime_error(std::string("$") + variable + " is not set: run through meson test");
  }
  return path;
}

void check_shown_in_doc(const std::string& source_name) {
  const std::string source = read_file(source_root() + "/tests/integration/" + source_name);
  REQUIRE(!source.empty());
  const std::string doc = read_file(source_root() + "/docs/integration.md");
  CHECK_MESSAGE(doc.find("```cpp\n" + source + "```\n") != std::string::npos,
                "docs/integration.md does not show tests/integration/"
                    << source_name << " verbatim in a ```cpp block");
}

TEST_CASE("doc example: the socket client prints five allowed and one denied with a retry time") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const CommandResult run = run_command({example("DRL_EXAMPLE_CLIENT"), drld.socket_path()});
  CAPTURE(run.out);
  CAPTURE(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK(run.out.find("request 1: allowed, 4 left\n") == 0);
  CHECK(run.out.find("request 5: allowed, 0 left\nrequest 6: denied, retry after ") !=
        std::string::npos);
  check_shown_in_doc("doc_example_client.cpp");
}

TEST_CASE("doc example: the socket client exits 2 when drld is not there") {
  TempDir dir;
  const CommandResult run = run_command({example("DRL_EXAMPLE_CLIENT"), dir.file("none.sock")});
  CHECK(run.exit_code == 2);
  CHECK(run.err.find("drld unreachable") == 0);
}

TEST_CASE("doc example: the embedded limiter allows three logins and denies the fourth") {
  const CommandResult run = run_command({example("DRL_EXAMPLE_LIMITER")});
  CAPTURE(run.err);
  CHECK(run.exit_code == 0);
  CHECK(run.out ==
        "login attempt 1: allowed\nlogin attempt 2: allowed\nlogin attempt 3: allowed\n"
        "login attempt 4: denied\n");
  check_shown_in_doc("doc_example_limiter.cpp");
}

}  // namespace
}  // namespace drl::integration
