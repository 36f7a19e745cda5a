// docs/monitoring.md shows exactly the metrics table drld exports: the text between its
// "<!-- metrics:begin -->" and "<!-- metrics:end -->" markers is the output of
// `drld --print-metrics`, which comes from the one declared table (src/daemon/metrics.cpp).
#include <doctest/doctest.h>

#include "http_harness.hpp"

namespace drl::integration {
namespace {

constexpr std::string_view kBegin = "<!-- metrics:begin -->";
constexpr std::string_view kEnd = "<!-- metrics:end -->";

std::string trim_newlines(std::string text) {
  while (!text.empty() && text.front() == '\n') text.erase(0, 1);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

TEST_CASE("monitoring docs: the metrics table between the markers is drld --print-metrics") {
  const CommandResult printed = run_drld({"--print-metrics"});
  REQUIRE(printed.exit_code == 0);
  REQUIRE(printed.out.find("| `drl_") != std::string::npos);

  const std::string path = source_root() + "/docs/monitoring.md";
  const std::string doc = read_file(path);
  const std::size_t begin = doc.find(kBegin);
  const std::size_t end = doc.find(kEnd);
  REQUIRE_MESSAGE(begin != std::string::npos, path << " has no " << kBegin);
  REQUIRE_MESSAGE(end != std::string::npos, path << " has no " << kEnd);
  REQUIRE(begin < end);
  CHECK_MESSAGE(doc.find(kBegin, begin + 1) == std::string::npos, "two begin markers");

  const std::string shown =
      trim_newlines(doc.substr(begin + kBegin.size(), end - begin - kBegin.size()));
  const std::string expected = trim_newlines(printed.out);
  CHECK_MESSAGE(shown == expected,
                "docs/monitoring.md is out of date; put the output of `build/src/drld "
                "--print-metrics` between the markers. Expected:\n"
                    << expected);
}

}  // namespace
}  // namespace drl::integration
