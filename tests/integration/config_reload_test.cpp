// Hot reload by its three triggers (SIGHUP, a change of the config file, `drl reload`): a valid
// file applies at once and keeps the counts; an invalid one is kept out, with a precise message,
// and the old configuration stays in force.
#include <doctest/doctest.h>

#include <signal.h>

#include <cstdio>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

// Policy "p" with `limit` per hour, sliding: an hour is long enough that a window boundary
// crossed during a test changes no decision. With `added`, a second policy that the first
// config does not have. The watcher is off unless the test is about it, so that the trigger under
// test is the only one.
std::string config_text(std::uint64_t limit, bool watch, bool added = false) {
  std::string text = "[node]\nsocket = \"@SOCKET@\"\nwatch_config = ";
  text += watch ? "true" : "false";
  text += "\n\n[[policy]]\nname = \"p\"\nlimit = " + std::to_string(limit) + "\nwindow = \"1h\"\n";
  if (added) text += "\n[[policy]]\nname = \"added\"\nlimit = 1\nwindow = \"1h\"\n";
  return text;
}

// Line 8, column 10 is the bad window.
std::string invalid_config_text(bool watch) {
  std::string text = "[node]\nsocket = \"@SOCKET@\"\nwatch_config = ";
  text += watch ? "true" : "false";
  text += "\n\n[[policy]]\nname = \"p\"\nlimit = 5\nwindow = \"abc\"\n";
  return text;
}

// The config file's new text, with the socket filled in as DaemonProcess does.
std::string with_socket(const DaemonProcess& drld, std::string text) {
  const std::string placeholder = "@SOCKET@";
  text.replace(text.find(placeholder), placeholder.size(), drld.socket_path());
  return text;
}

CommandResult drl_check(const DaemonProcess& drld, const std::string& policy,
                        const std::string& key) {
  return run_drl(
      {"check", "--socket", drld.socket_path(), "--policy", policy, "--key", key, "--json"});
}

// Counts three checks of "early" on p (limit 5), before any reload.
void count_three_early_checks(const DaemonProcess& drld) {
  drl::Client client = drld.connect();
  for (std::uint64_t i = 0; i < 3; ++i) {
    const auto decision = client.check(drl::CheckRequest{"p", "early"});
    REQUIRE(decision.ok());
    REQUIRE(decision->allowed);
    REQUIRE(decision->remaining == 4 - i);
  }
}

// A key never seen before gets exactly `limit` admissions on p.
void expect_fresh_key_gets(const DaemonProcess& drld, std::uint64_t limit, const std::string& key) {
  for (std::uint64_t i = 0; i < limit; ++i) {
    const CommandResult allowed = drl_check(drld, "p", key);
    CAPTURE(allowed.out);
    CHECK(allowed.exit_code == 0);
    CHECK(json_uint(allowed.out, "limit") == limit);
    CHECK(json_uint(allowed.out, "remaining") == limit - 1 - i);
  }
  CHECK(drl_check(drld, "p", key).exit_code == 1);
}

// Through `drl status --json`, as an operator would look.
void expect_status(const DaemonProcess& drld, std::uint64_t generation, std::uint64_t failures) {
  const CommandResult status = run_drl({"status", "--socket", drld.socket_path(), "--json"});
  CAPTURE(status.out);
  REQUIRE(status.exit_code == 0);
  CHECK(json_uint(status.out, "config_generation") == generation);
  CHECK(json_uint(status.out, "config_reloads") == generation - 1);
  CHECK(json_uint(status.out, "config_reload_failures") == failures);
}

// After the reload from limit 5 to 2 (plus policy "added"): the new limit applies at once, and
// the three checks counted before it still count.
void expect_limit_two_in_force_with_counts_kept(const DaemonProcess& drld) {
  const CommandResult early = drl_check(drld, "p", "early");
  CAPTURE(early.out);
  CHECK(early.exit_code == 1);  // 3 counted before the reload, 2 allowed now
  CHECK(json_uint(early.out, "limit") == 2);
  CHECK(json_uint(early.out, "remaining") == 0);
  expect_fresh_key_gets(drld, 2, "late");
  CHECK(drl_check(drld, "added", "late").exit_code == 0);
}

// After a rejected reload: limit 5 and the three early checks, as before.
void expect_old_config_in_force(const DaemonProcess& drld) {
  for (int i = 0; i < 2; ++i) {
    const CommandResult early = drl_check(drld, "p", "early");
    CAPTURE(early.out);
    CHECK(early.exit_code == 0);
    CHECK(json_uint(early.out, "limit") == 5);
  }
  CHECK(drl_check(drld, "p", "early").exit_code == 1);
}

bool generation_is(const DaemonProcess& drld, std::uint64_t generation) {
  return drld.status_uint("config_generation") == generation;
}

TEST_CASE("reload by SIGHUP: the new limit applies at once and the counts made before survive") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, false)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  replace_file(drld.config_path(), with_socket(drld, config_text(2, false, true)));
  drld.send_signal(SIGHUP);
  REQUIRE(wait_until([&] { return generation_is(drld, 2); }, 5s));

  expect_limit_two_in_force_with_counts_kept(drld);
  expect_status(drld, 2, 0);
  CHECK(drld.running());
}

TEST_CASE(
    "reload by file change: a file renamed over the config and an in-place rewrite both "
    "apply") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, true)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  // A new file renamed over the old one (a new inode), as most editors save.
  replace_file(drld.config_path(), with_socket(drld, config_text(2, true, true)));
  REQUIRE(wait_until([&] { return generation_is(drld, 2); }, 5s));
  expect_limit_two_in_force_with_counts_kept(drld);
  expect_status(drld, 2, 0);

  // The same file truncated and rewritten (same inode): limit 4, and "added" is gone.
  write_file_in_place(drld.config_path(), with_socket(drld, config_text(4, true)));
  REQUIRE(wait_until([&] { return generation_is(drld, 3); }, 5s));
  const CommandResult early = drl_check(drld, "p", "early");
  CAPTURE(early.out);
  CHECK(early.exit_code == 0);  // the 3 early checks still count: one more fits under 4
  CHECK(json_uint(early.out, "limit") == 4);
  CHECK(json_uint(early.out, "remaining") == 0);
  CHECK(drl_check(drld, "p", "early").exit_code == 1);
  CHECK(drl_check(drld, "added", "late").exit_code == 2);  // unknown policy now
  expect_status(drld, 3, 0);
}

TEST_CASE(
    "reload by drl reload: the new limit applies at once and the counts made before "
    "survive") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, false)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  replace_file(drld.config_path(), with_socket(drld, config_text(2, false, true)));
  const CommandResult reload = run_drl({"reload", "--socket", drld.socket_path()});
  CAPTURE(reload.out);
  CAPTURE(reload.err);
  REQUIRE(reload.exit_code == 0);
  CHECK(reload.out.find("generation 2") != std::string::npos);
  CHECK(reload.out.find("2 policies") != std::string::npos);

  // Synchronous: in force when drl reload returns.
  expect_limit_two_in_force_with_counts_kept(drld);
  expect_status(drld, 2, 0);
}

TEST_CASE("reload by drl reload with the embedded default config is refused with exit 2") {
  TempDir dir;
  DaemonProcess drld(dir, {});
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  const CommandResult reload = run_drl({"reload", "--socket", drld.socket_path()});
  CAPTURE(reload.err);
  CHECK(reload.exit_code == 2);
  CHECK(reload.err.find("reload_failed") != std::string::npos);
  CHECK(reload.err.find("--config") != std::string::npos);
  CHECK(drld.running());
}

TEST_CASE(
    "invalid config by drl reload: exit 2 naming file, line and problem; the old limits "
    "stay in force") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, false)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  replace_file(drld.config_path(), with_socket(drld, invalid_config_text(false)));
  const CommandResult reload = run_drl({"reload", "--socket", drld.socket_path()});
  CAPTURE(reload.out);
  CAPTURE(reload.err);
  CHECK(reload.exit_code == 2);
  CHECK(reload.out.empty());
  CHECK(reload.err.find("reload_failed") != std::string::npos);
  CHECK(reload.err.find(drld.config_path() + ":8:10:") != std::string::npos);
  CHECK(reload.err.find("window 'abc' is not a duration") != std::string::npos);

  CHECK(drld.running());
  expect_status(drld, 1, 1);
  expect_old_config_in_force(drld);

  // A config file that is gone is refused the same way.
  REQUIRE(std::remove(drld.config_path().c_str()) == 0);
  const CommandResult gone = run_drl({"reload", "--socket", drld.socket_path()});
  CAPTURE(gone.err);
  CHECK(gone.exit_code == 2);
  CHECK(gone.err.find(drld.config_path()) != std::string::npos);
  CHECK(gone.err.find("cannot open") != std::string::npos);
  expect_status(drld, 1, 2);
  CHECK(drl_check(drld, "p", "early").exit_code == 1);  // still limit 5, all 5 used
}

TEST_CASE(
    "invalid config by SIGHUP: drld keeps running with the old limits and counts the "
    "failure") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, false)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  replace_file(drld.config_path(), with_socket(drld, invalid_config_text(false)));
  drld.send_signal(SIGHUP);
  REQUIRE(wait_until([&] { return drld.status_uint("config_reload_failures") == 1; }, 5s));

  CHECK(drld.running());
  expect_status(drld, 1, 1);
  expect_old_config_in_force(drld);
}

TEST_CASE(
    "invalid config by file change: drld keeps running with the old limits, counts the "
    "failure, then takes the next valid file") {
  TempDir dir;
  DaemonProcess drld(dir, with_config(config_text(5, true)));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  count_three_early_checks(drld);

  replace_file(drld.config_path(), with_socket(drld, invalid_config_text(true)));
  REQUIRE(wait_until([&] { return drld.status_uint("config_reload_failures") >= 1; }, 5s));

  CHECK(drld.running());
  CHECK(drld.status_uint("config_generation") == 1);
  CHECK(drld.status_uint("config_reloads") == 0);
  expect_old_config_in_force(drld);

  // Fixing the file is picked up like any other change; "early" now has 5 counted.
  replace_file(drld.config_path(), with_socket(drld, config_text(2, true, true)));
  REQUIRE(wait_until([&] { return generation_is(drld, 2); }, 5s));
  CHECK(drl_check(drld, "p", "early").exit_code == 1);
  expect_fresh_key_gets(drld, 2, "late");
}

TEST_CASE(
    "invalid config by file change is reported once, even with drld's log in the config's "
    "directory") {
  // The watcher watches the config's directory, so drld's own log lines there are file changes
  // too: a rejected file must not be re-read and re-reported for each of them.
  TempDir dir;
  DaemonOptions options = with_config(config_text(5, true));
  options.log_beside_config = true;
  DaemonProcess drld(dir, options);
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  replace_file(drld.config_path(), with_socket(drld, invalid_config_text(true)));
  REQUIRE(wait_until([&] { return drld.status_uint("config_reload_failures") >= 1; }, 5s));
  // Other files changing in the directory do not bring the same rejection back either.
  write_file_in_place(drld.config_path() + ".bak", "unrelated");
  // Several debounce intervals (100 ms) without a second report.
  CHECK_FALSE(wait_until([&] { return drld.status_uint("config_reload_failures") > 1; }, 700ms));
  CHECK(drld.status_uint("config_generation") == 1);

  // An operator's explicit reload still reports it, every time.
  CHECK(run_drl({"reload", "--socket", drld.socket_path()}).exit_code == 2);
  CHECK(drld.status_uint("config_reload_failures") == 2);

  // And a fixed file is taken as usual.
  replace_file(drld.config_path(), with_socket(drld, config_text(2, true, true)));
  REQUIRE(wait_until([&] { return generation_is(drld, 2); }, 5s));
  expect_fresh_key_gets(drld, 2, "late");
}

}  // namespace
}  // namespace drl::integration
