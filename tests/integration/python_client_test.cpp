// docs/examples/check.py, the Python client of docs/integration.md, run by Debian's Python
// (/usr/bin/python3, which sees python3-msgpack) against a real drld running the embedded
// default config, whose policy "demo" allows 5 checks per 10 s sliding window per key.
// Its contract: it prints the answer as JSON; exit 0 allowed, 1 denied, 2 error.
//
// Exits 77 (skipped) when /usr/bin/python3 or its msgpack module is missing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr const char* kPython = "/usr/bin/python3";

CommandResult check_py(const DaemonProcess& drld, const std::string& policy, const std::string& key,
                       std::optional<int> cost = std::nullopt) {
  std::vector<std::string> argv{kPython, source_root() + "/docs/examples/check.py",
                                drld.socket_path(), policy, key};
  if (cost) argv.push_back(std::to_string(*cost));
  return run_command(argv);
}

// A top-level field of the object json.dumps prints ("name": value, with a space).
std::optional<std::string> field(const std::string& json, std::string_view name) {
  const std::string needle = "\"" + std::string(name) + "\": ";
  const std::size_t at = json.find(needle);
  if (at == std::string::npos) return std::nullopt;
  std::size_t begin = at + needle.size();
  std::size_t end = begin;
  if (json[begin] == '"') {
    end = json.find('"', ++begin);
  } else {
    while (end < json.size() && json[end] != ',' && json[end] != '}') ++end;
  }
  return json.substr(begin, end - begin);
}

std::uint64_t number(const std::string& json, std::string_view name) {
  const auto value = field(json, name);
  if (!value) throw std::runtime_error("no field '" + std::string(name) + "' in " + json);
  return std::stoull(*value);
}

TEST_CASE("check.py: five allowed with exit 0, the sixth denied with exit 1 and a retry time") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  for (std::uint64_t i = 0; i < 5; ++i) {
    const CommandResult allowed = check_py(drld, "demo", "alice");
    CAPTURE(allowed.out);
    CAPTURE(allowed.err);
    REQUIRE(allowed.exit_code == 0);
    CHECK(allowed.err.empty());
    CHECK(field(allowed.out, "allowed") == "true");
    CHECK(number(allowed.out, "limit") == 5);
    CHECK(number(allowed.out, "remaining") == 4 - i);
    CHECK(number(allowed.out, "retry_after_ms") == 0);
    CHECK(number(allowed.out, "id") == 1);
  }
  const CommandResult denied = check_py(drld, "demo", "alice");
  CAPTURE(denied.out);
  CAPTURE(denied.err);
  CHECK(denied.exit_code == 1);
  CHECK(denied.err.empty());
  CHECK(field(denied.out, "allowed") == "false");
  CHECK(number(denied.out, "remaining") == 0);
  CHECK(number(denied.out, "retry_after_ms") > 0);
  CHECK(number(denied.out, "retry_after_ms") <= 20'000);
}

TEST_CASE(
    "check.py: the cost argument counts that much, 0 peeks, and drl check sees the same "
    "counter") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const CommandResult four = check_py(drld, "demo", "bob", 4);
  CAPTURE(four.out);
  REQUIRE(four.exit_code == 0);
  CHECK(number(four.out, "remaining") == 1);
  const CommandResult peek = check_py(drld, "demo", "bob", 0);
  CAPTURE(peek.out);
  CHECK(peek.exit_code == 0);
  CHECK(number(peek.out, "remaining") == 1);
  const CommandResult two = check_py(drld, "demo", "bob", 2);
  CAPTURE(two.out);
  CHECK(two.exit_code == 1);
  // The CLI, over its own connection, counts on the same counter: the last unit.
  const CommandResult cli = run_drl(
      {"check", "--socket", drld.socket_path(), "--policy", "demo", "--key", "bob", "--json"});
  CAPTURE(cli.out);
  CHECK(cli.exit_code == 0);
  CHECK(json_uint(cli.out, "remaining") == 0);
  CHECK(check_py(drld, "demo", "bob").exit_code == 1);
}

TEST_CASE("check.py: drld's errors exit 2 with the error code printed") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const CommandResult unknown = check_py(drld, "no-such-policy", "carol");
  CAPTURE(unknown.out);
  CHECK(unknown.exit_code == 2);
  CHECK(field(unknown.out, "error") == "unknown_policy");
  const CommandResult too_big = check_py(drld, "demo", "carol", 6);
  CAPTURE(too_big.out);
  CHECK(too_big.exit_code == 2);
  CHECK(field(too_big.out, "error") == "cost_above_limit");
}

TEST_CASE("check.py: no drld at the socket path is an error (exit 2), not a denial (exit 1)") {
  TempDir dir;
  const CommandResult absent = run_command(
      {kPython, source_root() + "/docs/examples/check.py", dir.path() + "/none.sock", "demo", "k"});
  CAPTURE(absent.out);
  CAPTURE(absent.err);
  CHECK(absent.exit_code == 2);
  CHECK(absent.out.empty());
  CHECK(absent.err.find("none.sock") != std::string::npos);
}

}  // namespace
}  // namespace drl::integration

int main(int argc, char** argv) {
  using drl::integration::kPython;
  if (::access(kPython, X_OK) != 0) {
    std::printf("SKIP: %s is not installed\n", kPython);
    return 77;
  }
  const auto probe = drl::integration::run_command({kPython, "-c", "import msgpack"});
  if (probe.exit_code != 0) {
    std::printf("SKIP: %s cannot import msgpack (apt-get install python3-msgpack):\n%s\n", kPython,
                probe.err.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
