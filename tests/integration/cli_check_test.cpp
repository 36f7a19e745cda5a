// `drl check --json` against a real drld running the embedded default config, whose policy
// "demo" allows 5 checks per 10 s sliding window per key.
#include <doctest/doctest.h>

#include <ctime>
#include <regex>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

constexpr std::int64_t kDemoWindowMs = 10'000;
constexpr std::uint64_t kDemoLimit = 5;

CommandResult drl_check(const DaemonProcess& drld, const std::string& key,
                        const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{
      "check", "--socket", drld.socket_path(), "--policy", "demo", "--key", key, "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_drl(args);
}

TEST_CASE("drl check: five allowed then denied with a retry_after_ms that matches the window") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  const std::int64_t first_ms = wall_ms();
  for (std::uint64_t i = 0; i < kDemoLimit; ++i) {
    const CommandResult allowed = drl_check(drld, "alice");
    CAPTURE(i);
    CAPTURE(allowed.out);
    CAPTURE(allowed.err);
    CHECK(allowed.exit_code == 0);
    CHECK(allowed.err.empty());
    CHECK(json_field(allowed.out, "allowed") == "true");
    CHECK(json_uint(allowed.out, "limit") == kDemoLimit);
    CHECK(json_uint(allowed.out, "remaining") == kDemoLimit - 1 - i);
    CHECK(json_uint(allowed.out, "retry_after_ms") == 0);
    // Counted in the current window: zero again at the end of the next one.
    CHECK(json_uint(allowed.out, "reset_after_ms") > kDemoWindowMs);
    CHECK(json_uint(allowed.out, "reset_after_ms") <= 2 * kDemoWindowMs);
  }
  const CommandResult denied = drl_check(drld, "alice");
  const std::int64_t last_ms = wall_ms();
  CAPTURE(denied.out);
  CAPTURE(denied.err);
  REQUIRE(denied.exit_code == 1);
  CHECK(denied.err.empty());
  CHECK(json_field(denied.out, "allowed") == "false");
  CHECK(json_uint(denied.out, "limit") == kDemoLimit);
  CHECK(json_uint(denied.out, "remaining") == 0);
  const std::uint64_t retry_ms = json_uint(denied.out, "retry_after_ms");
  const std::uint64_t reset_ms = json_uint(denied.out, "reset_after_ms");
  CHECK(retry_ms > 0);
  CHECK(retry_ms <= 2 * kDemoWindowMs);
  CHECK(retry_ms <= reset_ms);

  if (first_ms / kDemoWindowMs == last_ms / kDemoWindowMs) {
    // All six checks fell in one window W, checked at an elapsed e within [first, last].
    // previous = 0, current = 5: the check passes once this window is the previous one and its
    // weight 5 * (W - e') / W + 1 <= 5, i.e. e' >= W / 5 into the next window. So
    // retry = (W - e) + W / 5 and reset = (W - e) + W.
    const auto left_at_first = static_cast<std::uint64_t>(kDemoWindowMs - first_ms % kDemoWindowMs);
    const auto left_at_last = static_cast<std::uint64_t>(kDemoWindowMs - last_ms % kDemoWindowMs);
    constexpr std::uint64_t kFifth = kDemoWindowMs / kDemoLimit;
    CHECK(retry_ms >= left_at_last + kFifth);
    CHECK(retry_ms <= left_at_first + kFifth);
    CHECK(reset_ms >= left_at_last + kDemoWindowMs);
    CHECK(reset_ms <= left_at_first + kDemoWindowMs);
  } else {
    MESSAGE("the checks straddled a window boundary: retry_after_ms checked against bounds only");
  }
}

TEST_CASE("drl check: a denied check is not counted, so the sixth and seventh are both denied") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  for (std::uint64_t i = 0; i < kDemoLimit; ++i) REQUIRE(drl_check(drld, "bob").exit_code == 0);
  CHECK(drl_check(drld, "bob").exit_code == 1);
  CHECK(drl_check(drld, "bob").exit_code == 1);
  // A peek (cost 0) still sees exactly the five admitted checks.
  const CommandResult peek = drl_check(drld, "bob", {"--cost", "0"});
  CHECK(peek.exit_code == 0);
  CHECK(json_uint(peek.out, "remaining") == 0);
  // Another key is counted on its own.
  const CommandResult other = drl_check(drld, "carol");
  CHECK(other.exit_code == 0);
  CHECK(json_uint(other.out, "remaining") == kDemoLimit - 1);
}

TEST_CASE(
    "drl check: exit 2 and a message on stderr for unknown policy, empty key, cost above "
    "limit and missing socket") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  SUBCASE("an unknown policy") {
    const CommandResult result = run_drl({"check", "--socket", drld.socket_path(), "--policy",
                                          "nonesuch", "--key", "alice", "--json"});
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err.find("unknown_policy") != std::string::npos);
    CHECK(result.err.find("unknown policy 'nonesuch' (policies: demo") != std::string::npos);
  }
  SUBCASE("an empty key") {
    const CommandResult result = drl_check(drld, "");
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err.find("empty_key") != std::string::npos);
  }
  SUBCASE("a cost above the limit") {
    const CommandResult result = drl_check(drld, "alice", {"--cost", "6"});
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err.find("cost_above_limit") != std::string::npos);
    CHECK(result.err.find("demo") != std::string::npos);
  }
  SUBCASE("a cost that is not a whole number names the option") {
    const CommandResult result = drl_check(drld, "alice", {"--cost", "-1"});
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("--cost '-1' is not a whole number from 0 to 4294967295") !=
          std::string::npos);
  }
  SUBCASE("a socket that does not exist") {
    const CommandResult result = run_drl({"check", "--socket", dir.file("nothing-here.sock"),
                                          "--policy", "demo", "--key", "alice", "--json"});
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.out.empty());
    CHECK(result.err.find("nothing-here.sock") != std::string::npos);
    CHECK(result.err.find("cannot connect") != std::string::npos);
  }
  SUBCASE("a directory given as the socket is named as one") {
    const CommandResult result =
        run_drl({"check", "--socket", dir.path(), "--policy", "demo", "--key", "alice"});
    CAPTURE(result.err);
    CHECK(result.exit_code == 2);
    CHECK(result.err.find("(a directory: set --socket or DRL_SOCKET to drld's socket file") !=
          std::string::npos);
  }

  // None of it counted: alice still has the whole limit.
  const CommandResult peek = drl_check(drld, "alice", {"--cost", "0"});
  CHECK(peek.exit_code == 0);
  CHECK(json_uint(peek.out, "remaining") == kDemoLimit);
  CHECK(drld.running());
}

TEST_CASE("drl check: --tier pro and --endpoint select their own limits") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  auto api_check = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{
        "check", "--socket", drld.socket_path(), "--policy", "api", "--key", "lee", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_drl(args);
  };
  const CommandResult plain = api_check({});
  CHECK(plain.exit_code == 0);
  CHECK(json_uint(plain.out, "limit") == 100);
  const CommandResult pro = api_check({"--tier", "pro"});
  CHECK(pro.exit_code == 0);
  CHECK(json_uint(pro.out, "limit") == 1000);
  // The endpoint's 5 per minute binds before the policy-wide 100.
  const CommandResult login = api_check({"--endpoint", "POST /login"});
  CAPTURE(login.out);
  CHECK(login.exit_code == 0);
  CHECK(json_uint(login.out, "limit") == 5);
  CHECK(json_uint(login.out, "remaining") == 4);
  CHECK(login.out.find("\"scope\":\"POST /login\"") != std::string::npos);
}

TEST_CASE("drl check: a 365-day limit answers with its window and waits until the year's end") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(R"(
[node]
socket = "@SOCKET@"

[[policy]]
name = "yearly"
algorithm = "fixed"
limit = 2
window = "1y"
)"));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  constexpr std::uint64_t kYearMs = 365ULL * 86'400'000;
  auto yearly = [&] {
    return run_drl(
        {"check", "--socket", drld.socket_path(), "--policy", "yearly", "--key", "ann", "--json"});
  };
  CHECK(yearly().exit_code == 0);
  CHECK(yearly().exit_code == 0);
  const auto now_ms = static_cast<std::uint64_t>(wall_ms());
  const CommandResult denied = yearly();
  CAPTURE(denied.out);
  REQUIRE(denied.exit_code == 1);
  CHECK(json_uint(denied.out, "window_ms") == kYearMs);
  // Windows are aligned to the Unix epoch: the year in force ends at the next multiple of 365 d.
  const std::uint64_t left_ms = kYearMs - now_ms % kYearMs;
  CHECK(json_uint(denied.out, "retry_after_ms") <= left_ms);
  CHECK(json_uint(denied.out, "retry_after_ms") + 60'000 >= left_ms);
}

TEST_CASE(
    "drl check, inspect and override list print windows and waits as durations, and when a "
    "window began") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(R"(
[node]
socket = "@SOCKET@"

[[policy]]
name = "yearly"
algorithm = "fixed"
limit = 2
window = "1y"
)"));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const std::vector<std::string> check{
      "check", "--socket", drld.socket_path(), "--policy", "yearly", "--key", "ann"};
  CHECK(run_drl(check).exit_code == 0);
  CHECK(run_drl(check).exit_code == 0);
  const CommandResult denied = run_drl(check);
  CAPTURE(denied.out);
  REQUIRE(denied.exit_code == 1);
  CHECK(denied.out.find("limit=2/1y") != std::string::npos);
  // Months away: whole seconds in days, hours, minutes, not "12345678.901s".
  CHECK(std::regex_search(denied.out, std::regex(R"(retry_after=\d+d(\d+h)?(\d+m)?(\d+s)?\s)")));

  constexpr std::uint64_t kYearMs = 365ULL * 86'400'000;
  const auto window = static_cast<std::uint64_t>(wall_ms()) / kYearMs;
  const auto began_s = static_cast<std::time_t>(window * kYearMs / 1000);
  std::tm utc{};
  ::gmtime_r(&began_s, &utc);
  char began[32];
  std::strftime(began, sizeof began, "%Y-%m-%dT%H:%M:%SZ", &utc);
  const CommandResult inspected =
      run_drl({"inspect", "--socket", drld.socket_path(), "--policy", "yearly", "--key", "ann"});
  CAPTURE(inspected.out);
  CHECK(inspected.out.find("yearly  fixed 2 per 1y  window " + std::to_string(window) + " (began " +
                           began + ")") == 0);

  REQUIRE(run_drl({"override", "set", "--socket", drld.socket_path(), "--policy", "yearly",
                   "--limit", "1", "--ttl", "9h10s"})
              .exit_code == 0);
  const CommandResult listed = run_drl({"override", "list", "--socket", drld.socket_path()});
  CAPTURE(listed.out);
  CHECK(std::regex_search(listed.out, std::regex(R"(  9h(10s|9m59s)  )")));
}

TEST_CASE("drl check: exit 2 with usage on stderr when --policy or --key is missing") {
  const CommandResult result = run_drl({"check", "--socket", "/nonexistent.sock", "--key", "a"});
  CHECK(result.exit_code == 2);
  CHECK(result.out.empty());
  CHECK(result.err.find("--policy") != std::string::npos);
}

TEST_CASE("drl ping and drl status --json answer from the running drld") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const CommandResult ping = run_drl({"ping", "--socket", drld.socket_path()});
  CHECK(ping.exit_code == 0);
  CHECK(ping.out.find("pong from drld") != std::string::npos);
  const CommandResult status = run_drl({"status", "--socket", drld.socket_path(), "--json"});
  CAPTURE(status.out);
  CHECK(status.exit_code == 0);
  CHECK(json_uint(status.out, "pid") == static_cast<std::uint64_t>(drld.pid()));
  CHECK(json_uint(status.out, "config_generation") == 1);
  CHECK(json_uint(status.out, "policies") == 2);
  CHECK(json_field(status.out, "config_path") == "(embedded default)");
}

}  // namespace
}  // namespace drl::integration
