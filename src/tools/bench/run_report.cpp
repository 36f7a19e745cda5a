#include "tools/bench/run_report.hpp"

#include <cmath>
#include <cstdio>

#include "wire/json_writer.hpp"

namespace drl::bench {
namespace {

double microseconds(std::uint64_t nanoseconds) {
  return static_cast<double>(nanoseconds) / 1000.0;
}

// `value` with `decimals` digits after the point: the measurements are not more precise.
double rounded(double value, int decimals) {
  return std::round(value * std::pow(10.0, decimals)) / std::pow(10.0, decimals);
}

double percent_of_a_core(double cpu_seconds, double wall_seconds) {
  return wall_seconds > 0 ? 100.0 * cpu_seconds / wall_seconds : 0.0;
}

}  // namespace

double RunReport::requests_per_s() const {
  return measured_seconds > 0 ? static_cast<double>(requests) / measured_seconds : 0.0;
}

double RunReport::checks_per_s() const {
  return measured_seconds > 0 ? static_cast<double>(checks()) / measured_seconds : 0.0;
}

std::string report_json(const RunReport& report) {
  const BenchOptions& options = report.options;
  wire::JsonWriter json;
  json.begin_object()
      .key("label")
      .value(options.label)
      .key("target")
      .value(target_name(options.target))
      .key("loop")
      .value(options.rate_per_s > 0 ? "open" : "closed")
      .key("connections")
      .value(std::uint64_t{options.connections})
      .key("inflight")
      .value(std::uint64_t{options.inflight})
      .key("batch")
      .value(std::uint64_t{options.batch})
      .key("threads")
      .value(std::uint64_t{options.threads})
      .key("keys")
      .value(options.keys)
      .key("distribution")
      .value(distribution_name(options.distribution))
      .key("cost")
      .value(std::uint64_t{options.cost})
      .key("rate")
      .value(options.rate_per_s)
      .key("policy")
      .value(options.target == Target::drl ? options.policy : std::string())
      .key("limit")
      .value(options.target == Target::drl ? std::uint64_t{0} : options.limit)
      .key("window_ms")
      .value(options.target == Target::drl ? std::uint64_t{0} : options.window_ms)
      .key("seconds")
      .value(rounded(report.measured_seconds, 3))
      .key("requests")
      .value(report.requests)
      .key("checks")
      .value(report.checks())
      .key("requests_per_s")
      .value(rounded(report.requests_per_s(), 1))
      .key("checks_per_s")
      .value(rounded(report.checks_per_s(), 1))
      .key("allowed")
      .value(report.tally.allowed)
      .key("denied")
      .value(report.tally.denied)
      .key("errors")
      .value(report.tally.errors)
      .key("latency_p50_us")
      .value(rounded(microseconds(report.latency.percentile_ns(0.50)), 1))
      .key("latency_p99_us")
      .value(rounded(microseconds(report.latency.percentile_ns(0.99)), 1))
      .key("latency_p999_us")
      .value(rounded(microseconds(report.latency.percentile_ns(0.999)), 1))
      .key("latency_max_us")
      .value(rounded(microseconds(report.latency.max_ns()), 1))
      .key("latency_mean_us")
      .value(rounded(report.latency.mean_ns() / 1000.0, 1))
      .key("client_cpu_percent")
      .value(rounded(percent_of_a_core(report.client_cpu_seconds, report.measured_seconds), 1));
  if (report.server_cpu_seconds) {
    const double checks = static_cast<double>(report.checks());
    json.key("server_pid")
        .value(*report.server_pid)
        .key("server_cpu_percent")
        .value(rounded(percent_of_a_core(*report.server_cpu_seconds, report.measured_seconds), 1))
        .key("server_cpu_us_per_check")
        .value(checks > 0 ? rounded(*report.server_cpu_seconds * 1e6 / checks, 3) : 0.0);
  }
  json.key("sent").value(report.sent).key("backlog_max").value(std::uint64_t{report.backlog_max});
  json.end_object();
  return json.str();
}

std::string report_text(const RunReport& report) {
  const BenchOptions& options = report.options;
  char text[1024];
  std::string out;
  std::snprintf(
      text, sizeof text,
      "%s%s%s: %u connections x %u in flight, batch %u, %s loop%s, %llu %s keys, "
      "%.1f s measured\n",
      options.label.c_str(), options.label.empty() ? "" : " ", target_name(options.target),
      options.connections, options.inflight, options.batch,
      options.rate_per_s > 0 ? "open" : "closed",
      options.rate_per_s > 0
          ? (" at " + std::to_string(static_cast<long long>(options.rate_per_s)) + "/s").c_str()
          : "",
      static_cast<unsigned long long>(options.keys), distribution_name(options.distribution),
      report.measured_seconds);
  out += text;
  std::snprintf(text, sizeof text,
                "  %12.0f checks/s  %12.0f requests/s   allowed %llu, denied %llu, errors %llu\n",
                report.checks_per_s(), report.requests_per_s(),
                static_cast<unsigned long long>(report.tally.allowed),
                static_cast<unsigned long long>(report.tally.denied),
                static_cast<unsigned long long>(report.tally.errors));
  out += text;
  std::snprintf(text, sizeof text,
                "  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
                microseconds(report.latency.percentile_ns(0.50)),
                microseconds(report.latency.percentile_ns(0.99)),
                microseconds(report.latency.percentile_ns(0.999)),
                microseconds(report.latency.max_ns()), report.latency.mean_ns() / 1000.0);
  out += text;
  std::snprintf(text, sizeof text, "  cpu: client %.0f%% of a core",
                percent_of_a_core(report.client_cpu_seconds, report.measured_seconds));
  out += text;
  if (report.server_cpu_seconds) {
    const double checks = static_cast<double>(report.checks());
    std::snprintf(text, sizeof text, ", server %.0f%% (%.2f us per check)",
                  percent_of_a_core(*report.server_cpu_seconds, report.measured_seconds),
                  checks > 0 ? *report.server_cpu_seconds * 1e6 / checks : 0.0);
    out += text;
  }
  out += "\n";
  return out;
}

}  // namespace drl::bench
