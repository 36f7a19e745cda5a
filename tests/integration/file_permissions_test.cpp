// The files drld trusts, on a real drld (docs/security.md, "Files and permissions"): a config
// file another user can write is warned about at start and at every reload, and counted in
// `drl status` and /metrics; a cluster key file others can read stops the start unless
// allow_readable_key_file says so; a socket_mode that lets every local user connect is warned
// about. The files here belong to the user running the test (root or not), who is drld's.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr const char* kPolicy = "[[policy]]\nname = \"p\"\nlimit = 5\nwindow = \"1h\"\n";

// A config file written by the test at `path` with exactly `mode`; drld runs on it through
// --config, its socket given by the harness on the command line.
std::string write_config(const std::string& path, const std::string& text, mode_t mode) {
  write_file_in_place(path, text);
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

DaemonOptions on_config(const std::string& path) {
  DaemonOptions options;
  options.extra_args = {"--config", path};
  return options;
}

std::string write_key(const TempDir& dir, const std::string& name, mode_t mode) {
  const std::string path = dir.file(name);
  write_file_in_place(path, std::string(64, 'a') + "\n");
  REQUIRE(::chmod(path.c_str(), mode) == 0);
  return path;
}

// A single node of a cluster (nobody else to reach) with these [cluster] lines, and
// `other_tables` ([http] ...).
std::string cluster_config(const std::string& cluster_lines, const std::string& other_tables = {}) {
  return "[node]\nsocket = \"@SOCKET@\"\nwatch_config = false\n" + other_tables +
         "[cluster]\nbind = \"127.0.0.1:0\"\n" + cluster_lines + kPolicy;
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

std::uint64_t warnings(const DaemonProcess& drld) {
  return drld.status_uint("file_permission_warnings");
}

CommandResult drl_reload(const DaemonProcess& drld) {
  return run_drl({"reload", "--socket", drld.socket_path()});
}

std::map<std::string, double> scrape(const DaemonProcess& drld) {
  const HttpResponse answer = http_request(drld_http_port(drld), "/metrics");
  REQUIRE(answer.status == 200);
  return parse_metrics(answer.body);
}

std::string series(const char* file) {
  return std::string("drl_file_permission_warnings{file=\"") + file + "\"}";
}

TEST_CASE(
    "permissions: a config file others can write (0666) is warned about at start, with its mode, "
    "and counted in drl status and in /metrics") {
  TempDir dir;
  const std::string config = write_config(
      dir.file("drld.toml"),
      "[node]\nwatch_config = false\n[http]\nlisten = \"127.0.0.1:0\"\n" + std::string(kPolicy),
      0666);
  DaemonProcess drld(dir, on_config(config));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());

  const std::string log = drld.log();
  CHECK(log.find(" warn config file " + config + " (mode 0666, owner ") != std::string::npos);
  CHECK(log.find("is writable by its group, writable by others: another user can change the "
                 "limits drld enforces") != std::string::npos);
  CHECK(warnings(drld) == 1);
  const auto metrics = scrape(drld);
  CHECK(metrics.at(series("config")) == 1);
  CHECK(metrics.at(series("key_file")) == 0);
  CHECK(metrics.at(series("socket")) == 0);
}

TEST_CASE(
    "permissions: a 0644 config gives no warning; chmod 0666 and drl reload warns (and the reload "
    "passes), each reload again; chmod back and reload clears the count") {
  TempDir dir;
  const std::string config = write_config(
      dir.file("drld.toml"), "[node]\nwatch_config = false\n" + std::string(kPolicy), 0644);
  DaemonProcess drld(dir, on_config(config));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(drld.log().find("config file") == std::string::npos);
  CHECK(warnings(drld) == 0);

  const std::string warning = "config reload (drl reload): config file " + config + " (mode 0666";
  REQUIRE(::chmod(config.c_str(), 0666) == 0);
  CHECK(drl_reload(drld).exit_code == 0);
  CHECK(drld.status_uint("config_generation") == 2);
  CHECK(warnings(drld) == 1);
  CHECK(occurrences(drld.log(), warning) == 1);

  CHECK(drl_reload(drld).exit_code == 0);  // once per reload, not once per change
  CHECK(occurrences(drld.log(), warning) == 2);

  REQUIRE(::chmod(config.c_str(), 0644) == 0);
  CHECK(drl_reload(drld).exit_code == 0);
  CHECK(warnings(drld) == 0);
  CHECK(occurrences(drld.log(), "config file " + config + " (mode 0644") == 0);
}

TEST_CASE(
    "permissions: with watch_config, a chmod of the config alone is warned about once, even with "
    "drld's log in the config's directory") {
  TempDir dir;
  // The log (DIR/drld.log) is beside the config: every line drld logs is a change in the
  // directory it watches.
  const std::string config = write_config(dir.file("drld.toml"), kPolicy, 0644);
  DaemonProcess drld(dir, on_config(config));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(warnings(drld) == 0);

  REQUIRE(::chmod(config.c_str(), 0646) == 0);
  REQUIRE(wait_until([&] { return warnings(drld) == 1; }, 5s));
  const std::string warning = "config file " + config + " (mode 0646";
  REQUIRE(wait_until([&] { return occurrences(drld.log(), warning) == 1; }, 2s));
  // Its own log line is a change the watcher sees: the same finding is not logged again.
  std::this_thread::sleep_for(1s);
  CHECK(occurrences(drld.log(), warning) == 1);
  CHECK(drld.status_uint("config_generation") == 1);  // the text did not change
}

TEST_CASE("permissions: a config in a directory others can write is warned about by directory") {
  TempDir dir;
  const std::string open = dir.file("open");
  REQUIRE(::mkdir(open.c_str(), 0700) == 0);
  REQUIRE(::chmod(open.c_str(), 0777) == 0);
  const std::string config = write_config(
      open + "/drld.toml", "[node]\nwatch_config = false\n" + std::string(kPolicy), 0600);
  DaemonProcess drld(dir, on_config(config));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(drld.log().find("config file " + config + ": directory " + open + " (mode 0777, owner ") !=
        std::string::npos);
  CHECK(drld.log().find("another user can replace the file") != std::string::npos);
  CHECK(warnings(drld) == 1);
}

TEST_CASE(
    "permissions: a cluster key file others can read (0644) stops drld at start, naming the "
    "file, its mode and the option that allows it") {
  TempDir dir;
  const std::string key = write_key(dir, "cluster.key", 0644);
  DaemonProcess drld(dir, with_config(cluster_config("key_file = \"" + key + "\"\n")));
  REQUIRE(drld.wait_exit(10s) == 1);
  const std::string log = drld.log();
  INFO("drld log:\n" << log);
  CHECK(log.find("drld: cluster key file " + key + " (mode 0644, owner ") != std::string::npos);
  CHECK(log.find("is readable by others: any local user can read the key") != std::string::npos);
  CHECK(log.find("set [cluster] allow_readable_key_file = true to accept it") != std::string::npos);
  CHECK_FALSE(path_exists(drld.socket_path()));

  // The previous key too, while the current one is private.
  TempDir rotating;
  const std::string current = write_key(rotating, "new.key", 0600);
  const std::string previous = write_key(rotating, "old.key", 0604);
  DaemonProcess rotation(
      rotating, with_config(cluster_config("key_file = \"" + current +
                                           "\"\nprevious_key_file = \"" + previous + "\"\n")));
  REQUIRE(rotation.wait_exit(10s) == 1);
  INFO("rotation log:\n" << rotation.log());
  CHECK(rotation.log().find("drld: cluster key file " + previous + " (mode 0604") !=
        std::string::npos);
  CHECK(rotation.log().find(current) == std::string::npos);
}

TEST_CASE(
    "permissions: with allow_readable_key_file = true a key others can read is accepted with a "
    "warning, counted") {
  TempDir dir;
  const std::string key = write_key(dir, "cluster.key", 0644);
  DaemonProcess drld(dir, with_config(cluster_config(
                              "key_file = \"" + key + "\"\nallow_readable_key_file = true\n",
                              "[http]\nlisten = \"127.0.0.1:0\"\n")));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(drld.log().find(" warn cluster key file " + key + " (mode 0644, owner ") !=
        std::string::npos);
  CHECK(drld.log().find("(accepted: [cluster] allow_readable_key_file = true)") !=
        std::string::npos);
  CHECK(warnings(drld) == 1);
  CHECK(scrape(drld).at(series("key_file")) == 1);
  const CommandResult status = run_drl({"status", "--socket", drld.socket_path(), "--json"});
  CHECK(json_field(status.out, "cluster_authenticated") == "true");
}

TEST_CASE(
    "permissions: private key files (0600, 0640) start without a warning; one made readable "
    "later is warned about at the next reload, without stopping drld") {
  TempDir dir;
  const std::string key = write_key(dir, "cluster.key", 0600);
  const std::string previous = write_key(dir, "previous.key", 0640);
  DaemonProcess drld(
      dir, with_config(cluster_config("key_file = \"" + key + "\"\nprevious_key_file = \"" +
                                      previous + "\"\n")));
  drld.require_ready();
  INFO("drld log:\n" << drld.log());
  CHECK(drld.log().find("key file") == std::string::npos);
  CHECK(warnings(drld) == 0);

  REQUIRE(::chmod(key.c_str(), 0666) == 0);
  CHECK(drl_reload(drld).exit_code == 0);
  CHECK(warnings(drld) == 1);
  CHECK(drld.log().find("config reload (drl reload): cluster key file " + key +
                        " (mode 0666, owner ") != std::string::npos);
  CHECK(drld.log().find("any local user can read the key and forge cluster datagrams; another "
                        "user can replace the key") != std::string::npos);
  CHECK(drld.running());
}

TEST_CASE(
    "permissions: socket_mode 0777 (others may connect) is warned about and counted; 0660 and "
    "0770 are not") {
  TempDir dir;
  DaemonProcess open(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nsocket_mode = \"0777\"\n"
                                      "[http]\nlisten = \"127.0.0.1:0\"\n" +
                                      std::string(kPolicy)));
  open.require_ready();
  INFO("drld log:\n" << open.log());
  CHECK(open.log().find(" warn socket_mode 0777 lets every local user connect to " +
                        open.socket_path()) != std::string::npos);
  CHECK(warnings(open) == 1);
  CHECK(scrape(open).at(series("socket")) == 1);
  struct stat socket {};
  REQUIRE(::stat(open.socket_path().c_str(), &socket) == 0);
  CHECK((socket.st_mode & 0777) == 0777);  // honoured, as configured
  REQUIRE(open.stop() == 0);

  for (const char* mode : {"0660", "0770"}) {
    CAPTURE(mode);
    DaemonProcess closed(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nsocket_mode = \"" +
                                          std::string(mode) + "\"\n" + kPolicy));
    closed.require_ready();
    CHECK(closed.log().find("socket_mode") == std::string::npos);
    CHECK(warnings(closed) == 0);
    REQUIRE(closed.stop() == 0);
  }
}

TEST_CASE(
    "permissions: a state_dir others can write is warned about and counted; one drld creates is "
    "not") {
  TempDir dir;
  const std::string shared = dir.file("shared-state");
  REQUIRE(::mkdir(shared.c_str(), 0777) == 0);
  REQUIRE(::chmod(shared.c_str(), 0777) == 0);  // the umask may have taken bits away
  DaemonProcess open(dir,
                     with_config("[node]\nsocket = \"@SOCKET@\"\nstate_dir = \"" + shared +
                                 "\"\n[http]\nlisten = \"127.0.0.1:0\"\n" + std::string(kPolicy)));
  open.require_ready();
  INFO("drld log:\n" << open.log());
  CHECK(open.log().find(" warn state_dir " + shared + ": directory " + shared) !=
        std::string::npos);
  CHECK(open.log().find("another user can delete or replace the saved counts") !=
        std::string::npos);
  CHECK(scrape(open).at(series("state_dir")) == 1);
  REQUIRE(open.stop() == 0);

  DaemonProcess own(dir, with_config("[node]\nsocket = \"@SOCKET@\"\nstate_dir = \"" +
                                     dir.file("own-state") + "\"\n" + std::string(kPolicy)));
  own.require_ready();
  CHECK(own.log().find("state_dir " + dir.file("own-state") + ":") == std::string::npos);
  CHECK(warnings(own) == 0);
}

}  // namespace
}  // namespace drl::integration
