#include "tools/drl_output.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <utility>

#include "core/duration.hpp"
#include "core/limits_in_force.hpp"
#include "wire/json_writer.hpp"
#include "wire/utf8.hpp"

namespace drl::cli {
namespace {

using Row = std::vector<std::pair<std::string, std::string>>;  // (column, value) pairs

// A window as the config writes it: "10s", "1m", "1h30m".
std::string window_text(std::uint64_t ms) {
  return core::format_duration_ms(ms);
}

// A wait (reset_after, retry_after, expires_in): to the millisecond under a minute ("13.212s"),
// to the second above ("9h10s", not "32410.446s").
std::string wait_text(std::uint64_t ms) {
  return core::format_span_ms(ms);
}

// When window `id` of `window_ms` began: window ids count windows since the Unix epoch
// (core/time.hpp), so every node names a window alike. "2026-12-05T08:27:00Z".
std::string window_start_text(std::uint64_t id, std::uint64_t window_ms) {
  return core::format_utc(static_cast<std::int64_t>(id * window_ms));
}

// Characters on a terminal: UTF-8 continuation bytes take no column.
std::size_t columns_of(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

// A cell of a table: at most cell_columns_max characters (a 256-byte key would widen its
// column for every row); --json has the whole value.
std::string cell_text(const std::string& raw) {
  constexpr std::size_t cell_columns_max = 48;
  const std::string text = wire::escape_control_bytes(raw);  // a key's newline stays in its row
  if (columns_of(text) <= cell_columns_max) return text;
  std::size_t kept = 0;
  std::size_t end = 0;
  while (end < text.size()) {
    if ((static_cast<unsigned char>(text[end]) & 0xc0) != 0x80 && ++kept > cell_columns_max - 3) {
      break;
    }
    ++end;
  }
  return text.substr(0, end) + "...";
}

// Rows as aligned columns under a header line; the first row names the columns.
void print_table(const std::vector<Row>& rows, const char* indent = "  ") {
  if (rows.empty()) return;
  std::vector<std::string> columns;
  for (const auto& [column, value] : rows.front()) columns.push_back(column);
  std::vector<std::size_t> widths;
  for (const std::string& column : columns) widths.push_back(column.size());
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], columns_of(cell_text(row[c].second)));
    }
  }
  std::string line = indent;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    line += columns[c] + std::string(widths[c] - columns[c].size() + 2, ' ');
  }
  std::puts(line.c_str());
  for (const auto& row : rows) {
    line = indent;
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      const std::string cell = cell_text(row[c].second);
      line += cell + std::string(widths[c] - columns_of(cell) + 2, ' ');
    }
    std::puts(line.c_str());
  }
}

// An override's value as set: "limit 40" or "factor 0.5" (drld keeps factors in permille).
std::string value_text(const OverrideInfo& info) {
  if (info.kind == "block") return "block";
  if (info.kind == "reset") return "reset";
  if (info.kind != "factor") return "limit " + std::to_string(info.value);
  char text[32];
  std::snprintf(text, sizeof text, "factor %.3g", static_cast<double>(info.value) / 1000.0);
  return text;
}

}  // namespace

std::string decision_text(const Decision& decision) {
  std::string line = decision.allowed ? "allowed" : "denied ";
  line += "  policy=" + decision.policy;
  if (!decision.scope.empty()) line += "  endpoint=" + decision.scope;
  line += "  limit=" + std::to_string(decision.limit) + "/" + window_text(decision.window_ms);
  line += "  remaining=" + std::to_string(decision.remaining);
  line += "  reset_after=" + wait_text(decision.reset_after_ms);
  if (!decision.allowed) line += "  retry_after=" + wait_text(decision.retry_after_ms);
  if (decision.staleness_ms > 0)
    line += "  staleness=" + std::to_string(decision.staleness_ms) + "ms";
  if (decision.tier_unknown) line += "  (unknown tier: default limits)";
  if (decision.enforcement == "hard") line += "  (hard limit)";
  if (decision.shadow_denied) line += "  (shadow: would have been denied)";
  if (!decision.adjusted.empty()) {
    line += "  (configured " + std::to_string(decision.configured_limit) + "; " +
            decision.adjusted + ")";
  }
  return wire::escape_control_bytes(line);  // the note holds an operator's reason
}

std::string decision_json(const Decision& decision) {
  wire::JsonWriter json;
  json.begin_object()
      .key("allowed")
      .value(decision.allowed)
      .key("limit")
      .value(decision.limit)
      .key("remaining")
      .value(decision.remaining)
      .key("reset_after_ms")
      .value(decision.reset_after_ms)
      .key("retry_after_ms")
      .value(decision.retry_after_ms)
      .key("window_ms")
      .value(decision.window_ms)
      .key("policy")
      .value(decision.policy)
      .key("scope")
      .value(decision.scope)
      .key("shadow_denied")
      .value(decision.shadow_denied)
      .key("tier_unknown")
      .value(decision.tier_unknown)
      .key("staleness_ms")
      .value(decision.staleness_ms);
  if (decision.enforcement == "hard") json.key("enforcement").value(decision.enforcement);
  if (!decision.adjusted.empty()) {
    json.key("configured_limit").value(decision.configured_limit);
    json.key("adjusted").value(decision.adjusted);
  }
  json.key("limits").begin_array();
  for (const LimitDecision& limit : decision.limits) {
    json.begin_object()
        .key("policy")
        .value(limit.policy)
        .key("scope")
        .value(limit.scope)
        .key("algorithm")
        .value(limit.algorithm)
        .key("limit")
        .value(limit.limit)
        .key("window_ms")
        .value(limit.window_ms)
        .key("remaining")
        .value(limit.remaining)
        .key("reset_after_ms")
        .value(limit.reset_after_ms)
        .key("retry_after_ms")
        .value(limit.retry_after_ms)
        .key("allowed")
        .value(limit.allowed)
        .key("shadow")
        .value(limit.shadow);
    if (limit.enforcement == "hard") json.key("enforcement").value(limit.enforcement);
    if (!limit.adjusted.empty()) {
      json.key("configured_limit").value(limit.configured_limit);
      json.key("adjusted").value(limit.adjusted);
    }
    json.end_object();
  }
  json.end_array().end_object();
  return json.str();
}

void print_status(const StatusReport& status) {
  std::size_t width = 0;
  for (const auto& [name, value] : status.fields) width = std::max(width, name.size());
  for (const auto& [name, value] : status.fields) {
    std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(),
                wire::escape_control_bytes(value).c_str());
  }
  for (const auto& [name, rows] : status.tables) {
    std::printf("\n%s (%zu)\n", name.c_str(), rows.size());
    print_table(rows);
  }
}

void print_counters(const std::vector<CounterState>& counters) {
  for (const CounterState& counter : counters) {
    std::printf("%s%s%s  %s %llu per %s  window %llu (began %s)\n", counter.policy.c_str(),
                counter.scope.empty() ? "" : " endpoint=", counter.scope.c_str(),
                counter.algorithm.c_str(), static_cast<unsigned long long>(counter.limit),
                window_text(counter.window_ms).c_str(),
                static_cast<unsigned long long>(counter.window_id),
                window_start_text(counter.window_id, counter.window_ms).c_str());
    std::printf("  cluster-wide: previous=%llu current=%llu remaining=%llu reset_after=%s\n",
                static_cast<unsigned long long>(counter.previous),
                static_cast<unsigned long long>(counter.current),
                static_cast<unsigned long long>(counter.remaining),
                wait_text(counter.reset_after_ms).c_str());
    if (counter.forgotten_previous != 0 || counter.forgotten_current != 0) {
      std::printf(
          "  key reset in force: forgets previous=%llu current=%llu of the origins' counts\n",
          static_cast<unsigned long long>(counter.forgotten_previous),
          static_cast<unsigned long long>(counter.forgotten_current));
    }
    std::vector<Row> rows;
    for (const OriginSlots& slot : counter.origins) {
      rows.push_back({{"node", slot.node_id},
                      {"incarnation", std::to_string(slot.incarnation)},
                      {"window", std::to_string(slot.window_id)},
                      {"previous", std::to_string(slot.previous)},
                      {"current", std::to_string(slot.current)}});
    }
    if (rows.empty()) {
      std::puts("  (not counted anywhere yet)");
    } else {
      print_table(rows, "  ");
    }
  }
}

std::string override_line(const OverrideInfo& info) {
  std::string line = "policy=" + info.scope.policy;
  if (!info.scope.tier.empty()) line += "  tier=" + info.scope.tier;
  if (!info.scope.endpoint.empty()) line += "  endpoint=" + info.scope.endpoint;
  if (info.scope.window_ms != 0)
    line += "  window=" + core::format_duration_ms(info.scope.window_ms);
  if (!info.scope.key.empty()) line += "  key=" + info.scope.key;
  line += "  " + value_text(info);
  if (info.kind == "reset") {
    // A reset does not expire: the windows it forgets end.
    line += "  ends_in=" + wait_text(info.remaining_ms) + "  by=" + info.set_by;
  } else {
    line += "  expires_in=" + wait_text(info.remaining_ms) + "  set_by=" + info.set_by;
  }
  if (!info.reason.empty()) line += "  reason=\"" + info.reason + "\"";
  return wire::escape_control_bytes(line);  // keys and reasons come from callers
}

std::string forgotten_text(const std::vector<ForgottenCount>& forgotten) {
  std::vector<core::ResetTarget> targets;
  for (const ForgottenCount& count : forgotten) {
    targets.push_back(core::ResetTarget{core::ResetMark{0, count.window_ms, 0, 0, 0},
                                        count.endpoint, count.limit, count.count});
  }
  return core::describe_forgotten(targets);
}

void print_overrides(const std::vector<OverrideInfo>& overrides) {
  if (overrides.empty()) {
    std::puts("no overrides or key resets in force");
    return;
  }
  std::vector<Row> rows;
  const auto or_every = [](const std::string& text) { return text.empty() ? "*" : text; };
  for (const OverrideInfo& info : overrides) {
    rows.push_back(
        {{"policy", info.scope.policy},
         {"tier", or_every(info.scope.tier)},
         {"endpoint", or_every(info.scope.endpoint)},
         {"window",
          info.scope.window_ms == 0 ? "*" : core::format_duration_ms(info.scope.window_ms)},
         {"key", or_every(info.scope.key)},
         {"override", value_text(info)},
         {"expires_in", wait_text(info.remaining_ms)},
         {"set_by", info.set_by},
         {"reason", info.reason}});
  }
  print_table(rows, "");
}

}  // namespace drl::cli
