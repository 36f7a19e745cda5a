#include "tools/bench/key_fill.hpp"

#include <cmath>
#include <cstdio>

#include "tools/bench/load_run.hpp"
#include "wire/json_writer.hpp"

namespace drl::bench {
namespace {

double per_key(std::uint64_t before, std::uint64_t after, std::uint64_t keys) {
  if (keys == 0) return 0.0;
  const double growth = static_cast<double>(after) - static_cast<double>(before);
  return std::round(growth / static_cast<double>(keys) * 10.0) / 10.0;
}

std::uint64_t keys_gained(const FillReport& report) {
  return report.after.keys > report.before.keys ? report.after.keys - report.before.keys : 0;
}

}  // namespace

FillReport fill_keys(const BenchOptions& options, const TargetSession& session) {
  BenchOptions fill = options;
  fill.distribution = KeyDistribution::sequential;
  fill.keys = options.fill_keys;
  FillReport report;
  report.options = fill;
  report.before = session.snapshot();
  const RunReport run = run_load(fill, session, fill.fill_keys);
  report.after = session.snapshot();
  report.seconds = run.measured_seconds;
  report.checks_allowed = run.tally.allowed;
  report.checks_denied = run.tally.denied;
  report.errors = run.tally.errors;
  return report;
}

std::string fill_report_json(const FillReport& report) {
  const std::uint64_t gained = keys_gained(report);
  wire::JsonWriter json;
  json.begin_object()
      .key("label")
      .value(report.options.label)
      .key("mode")
      .value("fill")
      .key("target")
      .value(target_name(report.options.target))
      .key("keys_filled")
      .value(report.options.fill_keys)
      .key("seconds")
      .value(std::round(report.seconds * 1000.0) / 1000.0)
      .key("allowed")
      .value(report.checks_allowed)
      .key("denied")
      .value(report.checks_denied)
      .key("errors")
      .value(report.errors)
      .key("server_pid")
      .value(std::int64_t{report.after.pid})
      .key("keys_before")
      .value(report.before.keys)
      .key("keys_after")
      .value(report.after.keys)
      .key("memory_bytes_before")
      .value(report.before.memory_bytes)
      .key("memory_bytes_after")
      .value(report.after.memory_bytes)
      .key("rss_bytes_before")
      .value(report.before.rss_bytes)
      .key("rss_bytes_after")
      .value(report.after.rss_bytes)
      .key("memory_bytes_per_key")
      .value(per_key(report.before.memory_bytes, report.after.memory_bytes, gained))
      .key("rss_bytes_per_key")
      .value(per_key(report.before.rss_bytes, report.after.rss_bytes, gained))
      .end_object();
  return json.str();
}

std::string fill_report_text(const FillReport& report) {
  const std::uint64_t gained = keys_gained(report);
  char text[512];
  std::snprintf(text, sizeof text,
                "%s: %llu keys checked once in %.1f s (%llu allowed, %llu denied, %llu errors)\n"
                "  keys %llu -> %llu, memory %llu -> %llu bytes (%.1f per key), "
                "rss %llu -> %llu bytes (%.1f per key)\n",
                target_name(report.options.target),
                static_cast<unsigned long long>(report.options.fill_keys), report.seconds,
                static_cast<unsigned long long>(report.checks_allowed),
                static_cast<unsigned long long>(report.checks_denied),
                static_cast<unsigned long long>(report.errors),
                static_cast<unsigned long long>(report.before.keys),
                static_cast<unsigned long long>(report.after.keys),
                static_cast<unsigned long long>(report.before.memory_bytes),
                static_cast<unsigned long long>(report.after.memory_bytes),
                per_key(report.before.memory_bytes, report.after.memory_bytes, gained),
                static_cast<unsigned long long>(report.before.rss_bytes),
                static_cast<unsigned long long>(report.after.rss_bytes),
                per_key(report.before.rss_bytes, report.after.rss_bytes, gained));
  return text;
}

std::string snapshot_json(const BenchOptions& options, const ServerSnapshot& snapshot) {
  wire::JsonWriter json;
  json.begin_object()
      .key("label")
      .value(options.label)
      .key("mode")
      .value("memory")
      .key("target")
      .value(target_name(options.target))
      .key("server_pid")
      .value(std::int64_t{snapshot.pid})
      .key("keys")
      .value(snapshot.keys)
      .key("memory_bytes")
      .value(snapshot.memory_bytes)
      .key("rss_bytes")
      .value(snapshot.rss_bytes)
      .end_object();
  return json.str();
}

}  // namespace drl::bench
