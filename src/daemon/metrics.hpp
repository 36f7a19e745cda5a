// The metrics drld exports, declared once: the exporter makes exactly these families, a test
// checks it, and `drld --print-metrics` prints the table docs/monitoring.md is made from.
// Labels have bounded values: never a key.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace drl::daemon {

struct DaemonContext;

enum class MetricKind { counter, gauge, histogram };

struct MetricSpec {
  std::string_view name;
  MetricKind kind;
  std::string_view labels;  // comma-separated label names; "" for none
  std::string_view help;
};

std::span<const MetricSpec> metric_table();

// The Prometheus text exposition of every metric, collected now.
std::string render_metrics(const DaemonContext& context);

// The metric table as a Markdown table (for docs/monitoring.md).
std::string metric_table_markdown();

}  // namespace drl::daemon
