// The declared metrics follow Prometheus' naming conventions.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "daemon/metrics.hpp"

using namespace drl::daemon;

namespace {

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace

TEST_CASE("metrics: every name is drl_-prefixed, unique, and counters end in _total") {
  std::set<std::string_view> names;
  for (const MetricSpec& metric : metric_table()) {
    CAPTURE(metric.name);
    CHECK(metric.name.substr(0, 4) == "drl_");
    CHECK(names.insert(metric.name).second);
    CHECK(ends_with(metric.name, "_total") == (metric.kind == MetricKind::counter));
    CHECK_FALSE(metric.help.empty());
    for (char c : metric.name)
      CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'));
  }
}

TEST_CASE("metrics: times are in seconds and sizes in bytes (base units)") {
  for (const MetricSpec& metric : metric_table()) {
    CAPTURE(metric.name);
    CHECK(metric.name.find("_ms") == std::string_view::npos);
    CHECK(metric.name.find("_milliseconds") == std::string_view::npos);
    CHECK(metric.name.find("_kb") == std::string_view::npos);
  }
}

TEST_CASE("metrics: no label could carry a key (bounded label sets only)") {
  // "series" carries descriptor values, but only of the Envoy rules an operator marked
  // detailed_metric, and at most bounds::envoy_detailed_series_max of them; "name" carries the
  // names applications report load signals under, at most reported_signals_max of them.
  const std::set<std::string_view> allowed{
      "policy", "decision", "kind",   "transport", "result",  "code",
      "state",  "peer",     "reason", "direction", "version", "event",
      "signal", "file",     "domain", "outcome",   "series",  "name"};
  for (const MetricSpec& metric : metric_table()) {
    std::string_view labels = metric.labels;
    while (!labels.empty()) {
      const std::size_t comma = labels.find(',');
      CAPTURE(metric.name);
      CHECK(allowed.count(labels.substr(0, comma)) == 1);
      if (comma == std::string_view::npos) break;
      labels.remove_prefix(comma + 1);
    }
  }
}

TEST_CASE("metrics: the Markdown table lists every metric once") {
  const std::string table = metric_table_markdown();
  for (const MetricSpec& metric : metric_table()) {
    CHECK(table.find("| `" + std::string(metric.name) + "` |") != std::string::npos);
  }
}
