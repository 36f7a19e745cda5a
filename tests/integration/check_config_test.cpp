// `drld --check-config FILE` and starting drld with a bad --config: precise messages
// (file:line:col: problem) and exit codes an operator can script against.
#include <doctest/doctest.h>

#include <cctype>

#include "daemon_process.hpp"

namespace drl::integration {
namespace {

// True if `text` has a line "PATH:LINE:COL: ..." with the given line and a numeric column,
// whose rest contains `problem`.
bool names_location_and_problem(const std::string& text, const std::string& path, int line,
                                const std::string& problem) {
  const std::string prefix = path + ":" + std::to_string(line) + ":";
  const std::size_t at = text.find(prefix);
  if (at == std::string::npos) return false;
  std::size_t column_end = at + prefix.size();
  while (column_end < text.size() && std::isdigit(static_cast<unsigned char>(text[column_end]))) {
    ++column_end;
  }
  if (column_end == at + prefix.size() || text.compare(column_end, 2, ": ") != 0) return false;
  const std::size_t line_end = text.find('\n', column_end);
  return text.substr(column_end, line_end - column_end).find(problem) != std::string::npos;
}

const char* const kValidConfig = R"(# a documented config
[node]
socket = "/tmp/never-used.sock"
socket_mode = "0660"

[bounds]
max_connections = 16

[[policy]]
name = "api"
limit = 100
window = "1m"

[policy.tiers.pro]
limit = 1000

[policy.endpoints."POST /login"]
limit = 5

[[policy]]
name = "burst"
algorithm = "fixed"
limits = [{ limit = 10, window = "1s" }, { limit = 100, window = "1h" }]
)";

TEST_CASE("drld --check-config: a valid file prints OK and exits 0") {
  TempDir dir;
  const std::string path = dir.file("valid.toml");
  write_file_in_place(path, kValidConfig);
  const CommandResult result = run_drld({"--check-config", path});
  CAPTURE(result.out);
  CAPTURE(result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out.find(path) != std::string::npos);
  CHECK(result.out.find("OK") != std::string::npos);
  CHECK(result.out.find("2 policies") != std::string::npos);
  CHECK(result.err.empty());
  // Checking starts nothing: the socket named in the file was not created.
  CHECK_FALSE(path_exists("/tmp/never-used.sock"));
}

TEST_CASE("drld --check-config: an invalid file exits 1 naming file:line:col and the problem") {
  struct Case {
    const char* name;
    const char* text;
    int line;
    const char* problem;
  };
  const Case cases[] = {
      {"unknown key", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"1s\"\ncolour = \"red\"\n", 5,
       "unknown key 'colour'"},
      {"bad window", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"abc\"\n", 4,
       "window 'abc' is not a duration"},
      {"missing limit", "[[policy]]\nname = \"a\"\nwindow = \"1s\"\n", 1, "limit is missing"},
      {"duplicate policy",
       "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"1s\"\n\n"
       "[[policy]]\nname = \"a\"\nlimit = 2\nwindow = \"1s\"\n",
       6, "policy 'a' is defined twice"},
      {"TOML syntax error", "[[policy]]\nname = \"a\nlimit = 1\n", 2, "string"},
      {"limit of zero", "[[policy]]\nname = \"a\"\nlimit = 0\nwindow = \"1s\"\n", 3,
       "limit must be between 1"},
      {"max_connections of zero",
       "[bounds]\nmax_connections = 0\n\n[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"1s\"\n", 2,
       "max_connections must be between 1"},
  };
  TempDir dir;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string path = dir.file("invalid.toml");
    write_file_in_place(path, c.text);
    const CommandResult result = run_drld({"--check-config", path});
    CAPTURE(result.out);
    CAPTURE(result.err);
    CHECK(result.exit_code == 1);
    CHECK(result.out.find("OK") == std::string::npos);
    CHECK(names_location_and_problem(result.err, path, c.line, c.problem));
  }
}

TEST_CASE("drld --config with a missing file exits non-zero naming the file") {
  TempDir dir;
  const std::string path = dir.file("missing.toml");
  const CommandResult result = run_drld({"--config", path, "--socket", dir.file("drld.sock")});
  CAPTURE(result.err);
  CHECK(result.exit_code != 0);
  CHECK(result.err.find(path) != std::string::npos);
  CHECK(result.err.find("cannot open") != std::string::npos);
  CHECK_FALSE(path_exists(dir.file("drld.sock")));
}

TEST_CASE("drld --config with an invalid file exits 1 naming file:line:col and serves nothing") {
  TempDir dir;
  const std::string path = dir.file("invalid.toml");
  write_file_in_place(path, "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"abc\"\n");
  const CommandResult result = run_drld({"--config", path, "--socket", dir.file("drld.sock")});
  CAPTURE(result.err);
  CHECK(result.exit_code == 1);
  CHECK(names_location_and_problem(result.err, path, 4, "window 'abc' is not a duration"));
  CHECK_FALSE(path_exists(dir.file("drld.sock")));
}

}  // namespace
}  // namespace drl::integration
