// drl: the command-line client and admin tool of drld. See `drl --help`.
//
// Exit status: 0 allowed / success, 1 denied, 2 error (message on stderr).
#include <cxxopts.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "core/duration.hpp"
#include "drl/client.hpp"
#include "wire/json_writer.hpp"

#ifndef DRL_VERSION
#define DRL_VERSION "unknown"
#endif

namespace {

constexpr int kExitAllowed = 0;
constexpr int kExitDenied = 1;
constexpr int kExitError = 2;

const char* const kUsage =
    "usage: drl COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  check   --policy P --key K [--cost N] [--tier T] [--endpoint E] [--json] [--repeat N]\n"
    "          ask whether a request may go through; exit 0 allowed, 1 denied, 2 error\n"
    "  reload  make drld re-read its config file now\n"
    "  status  [--json]  the node, its peers, counters and connections\n"
    "  inspect --policy P --key K [--tier T] [--endpoint E] [--json]\n"
    "          the key's counters: cluster-wide estimate and every origin's slots\n"
    "  ping    check that drld answers\n"
    "  override set --policy P [--tier T] [--endpoint E] [--window W]\n"
    "               (--limit N | --factor F) --ttl DURATION [--reason TEXT]\n"
    "          change limits cluster-wide until the TTL ends (docs/dynamic-limits.md)\n"
    "  override list [--json]  the overrides in force\n"
    "  override clear (--policy P [--tier T] [--endpoint E] [--window W] | --all)\n"
    "  report  NAME VALUE  the application's load signal NAME (a number)\n"
    "\n"
    "every command takes --socket PATH (default: $DRL_SOCKET, else /run/drl/drld.sock)\n"
    "run `drl COMMAND --help` for a command's options\n";

// `drl COMMAND --help`: prints the command's options; true if it did.
bool help_requested(const cxxopts::Options& spec, const cxxopts::ParseResult& args) {
  if (args.count("help") == 0) return false;
  std::cout << spec.help() << "\n";
  return true;
}

int fail(const drl::Error& error) {
  std::fprintf(stderr, "drl: %s: %s\n", std::string(drl::errc_name(error.code)).c_str(),
               error.message.c_str());
  return kExitError;
}

// A window as the config writes it: "10s", "1m", "1h30m".
std::string window_text(std::uint64_t ms) {
  return drl::core::format_duration_ms(ms);
}

// A wait (reset_after, retry_after, expires_in): to the millisecond under a minute ("13.212s"),
// to the second above ("9h10s", not "32410.446s").
std::string wait_text(std::uint64_t ms) {
  constexpr std::uint64_t minute_ms = 60'000;
  if (ms >= minute_ms) return drl::core::format_duration_ms((ms + 500) / 1000 * 1000);
  char text[32];
  std::snprintf(text, sizeof text, "%.3fs", static_cast<double>(ms) / 1000.0);
  return text;
}

// When window `id` of `window_ms` began: window ids count windows since the Unix epoch
// (core/time.hpp), so every node names a window alike. "2026-12-05T08:27:00Z".
std::string window_start_text(std::uint64_t id, std::uint64_t window_ms) {
  const auto seconds = static_cast<std::time_t>(id * window_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string decision_json(const drl::Decision& decision) {
  drl::wire::JsonWriter json;
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
  if (!decision.adjusted.empty()) {
    json.key("configured_limit").value(decision.configured_limit);
    json.key("adjusted").value(decision.adjusted);
  }
  json.key("limits").begin_array();
  for (const drl::LimitDecision& limit : decision.limits) {
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
    if (!limit.adjusted.empty()) {
      json.key("configured_limit").value(limit.configured_limit);
      json.key("adjusted").value(limit.adjusted);
    }
    json.end_object();
  }
  json.end_array().end_object();
  return json.str();
}

std::string decision_text(const drl::Decision& decision) {
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
  if (decision.shadow_denied) line += "  (shadow: would have been denied)";
  if (!decision.adjusted.empty()) {
    line += "  (configured " + std::to_string(decision.configured_limit) + "; " +
            decision.adjusted + ")";
  }
  return line;
}

// Rows of (column, value) pairs as aligned columns under a header line.
void print_table(const std::vector<std::vector<std::pair<std::string, std::string>>>& rows,
                 const char* indent = "  ") {
  if (rows.empty()) return;
  std::vector<std::string> columns;
  for (const auto& [column, value] : rows.front()) columns.push_back(column);
  std::vector<std::size_t> widths;
  for (const std::string& column : columns) widths.push_back(column.size());
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) {
      widths[c] = std::max(widths[c], row[c].second.size());
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
      line += row[c].second + std::string(widths[c] - row[c].second.size() + 2, ' ');
    }
    std::puts(line.c_str());
  }
}

cxxopts::Options command_options(const std::string& command, const std::string& what) {
  cxxopts::Options spec("drl " + command, what);
  spec.add_options()("socket", "drld's Unix socket", cxxopts::value<std::string>(), "PATH")(
      "h,help", "print this help");
  return spec;
}

std::string socket_of(const cxxopts::ParseResult& args) {
  return args.count("socket") != 0 ? args["socket"].as<std::string>()
                                   : drl::Client::default_socket_path();
}

// "--cost 3": a whole number from low to high. Parsed here rather than by cxxopts, whose error
// ("Argument '-1' failed to parse") does not name the option.
std::uint64_t uint_option(const cxxopts::ParseResult& args, const char* name, std::uint64_t low,
                          std::uint64_t high) {
  const std::string text = args[name].as<std::string>();
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < low ||
      value > high) {
    throw cxxopts::exceptions::exception("--" + std::string(name) + " '" + text +
                                         "' is not a whole number from " + std::to_string(low) +
                                         " to " + std::to_string(high));
  }
  return value;
}

int run_check(int argc, char** argv) {
  cxxopts::Options spec = command_options("check", "ask drld whether a request may go through");
  spec.add_options()("policy", "policy name", cxxopts::value<std::string>(), "P")(
      "key", "who is counted: user id, IP, API key, ...", cxxopts::value<std::string>(), "K")(
      "cost", "how much this request counts (0: peek without counting)",
      cxxopts::value<std::string>()->default_value("1"),
      "N")("tier", "the caller's tier (e.g. free, pro)", cxxopts::value<std::string>(), "T")(
      "endpoint", "the endpoint called", cxxopts::value<std::string>(), "E")(
      "json", "print one JSON object per check")(
      "repeat", "make the same check N times, one line each; exit status of the last",
      cxxopts::value<std::string>()->default_value("1"), "N");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (args.count("policy") == 0 || args.count("key") == 0) {
    std::fprintf(stderr, "drl check: --policy and --key are required (see drl check --help)\n");
    return kExitError;
  }
  const std::string policy = args["policy"].as<std::string>();
  const std::string key = args["key"].as<std::string>();
  const std::string tier = args.count("tier") != 0 ? args["tier"].as<std::string>() : "";
  const std::string endpoint =
      args.count("endpoint") != 0 ? args["endpoint"].as<std::string>() : "";
  const auto cost = static_cast<std::uint32_t>(uint_option(args, "cost", 0, UINT32_MAX));
  drl::CheckRequest request{policy, key, cost, tier, endpoint};
  const bool as_json = args.count("json") != 0;

  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  int status = kExitError;
  const auto repeat = static_cast<std::uint32_t>(uint_option(args, "repeat", 1, UINT32_MAX));
  for (std::uint32_t i = 0; i < repeat; ++i) {
    const drl::Result<drl::Decision> decision = client->check(request, as_json);
    if (!decision.ok()) return fail(decision.error());
    std::puts(as_json ? decision_json(decision.value()).c_str()
                      : decision_text(decision.value()).c_str());
    status = decision->allowed ? kExitAllowed : kExitDenied;
  }
  return status;
}

int run_reload(int argc, char** argv) {
  cxxopts::Options spec = command_options("reload", "make drld re-read its config file now");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  const drl::Result<std::string> reloaded = client->reload();
  if (!reloaded.ok()) return fail(reloaded.error());
  std::printf("reloaded: %s\n", reloaded.value().c_str());
  return kExitAllowed;
}

int run_status(int argc, char** argv) {
  cxxopts::Options spec = command_options("status", "show the node's state");
  spec.add_options()("json", "print the status as one JSON object");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  if (args.count("json") != 0) {
    const drl::Result<std::string> status = client->status_json();
    if (!status.ok()) return fail(status.error());
    std::puts(status.value().c_str());
    return kExitAllowed;
  }
  const auto status = client->status();
  if (!status.ok()) return fail(status.error());
  std::size_t width = 0;
  for (const auto& [name, value] : status->fields) width = std::max(width, name.size());
  for (const auto& [name, value] : status->fields) {
    std::printf("%-*s  %s\n", static_cast<int>(width), name.c_str(), value.c_str());
  }
  for (const auto& [name, rows] : status->tables) {
    std::printf("\n%s (%zu)\n", name.c_str(), rows.size());
    print_table(rows);
  }
  return kExitAllowed;
}

int run_inspect(int argc, char** argv) {
  cxxopts::Options spec = command_options("inspect", "show a key's counters, per origin");
  spec.add_options()("policy", "policy name", cxxopts::value<std::string>(), "P")(
      "key", "the key", cxxopts::value<std::string>(), "K")("tier", "the caller's tier",
                                                            cxxopts::value<std::string>(), "T")(
      "endpoint", "the endpoint", cxxopts::value<std::string>(), "E")(
      "json", "print the counters as a JSON array");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (args.count("policy") == 0 || args.count("key") == 0) {
    std::fprintf(stderr, "drl inspect: --policy and --key are required (see drl inspect --help)\n");
    return kExitError;
  }
  const std::string policy = args["policy"].as<std::string>();
  const std::string key = args["key"].as<std::string>();
  const std::string tier = args.count("tier") != 0 ? args["tier"].as<std::string>() : "";
  const std::string endpoint =
      args.count("endpoint") != 0 ? args["endpoint"].as<std::string>() : "";
  const drl::CheckRequest request{policy, key, 0, tier, endpoint};
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  if (args.count("json") != 0) {
    const auto json = client->inspect_json(request);
    if (!json.ok()) return fail(json.error());
    std::puts(json.value().c_str());
    return kExitAllowed;
  }
  const auto counters = client->inspect(request);
  if (!counters.ok()) return fail(counters.error());
  for (const drl::CounterState& counter : counters.value()) {
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
    std::vector<std::vector<std::pair<std::string, std::string>>> rows;
    for (const drl::OriginSlots& slot : counter.origins) {
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
  return kExitAllowed;
}

int run_ping(int argc, char** argv) {
  cxxopts::Options spec = command_options("ping", "check that drld answers");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  const drl::Result<std::string> pong = client->ping();
  if (!pong.ok()) return fail(pong.error());
  std::printf("pong from %s\n", pong.value().c_str());
  return kExitAllowed;
}

// "--window 1m" and "--ttl 15m": durations as the config writes them.
std::uint64_t duration_option(const cxxopts::ParseResult& args, const char* name) {
  const std::string text = args[name].as<std::string>();
  const std::optional<std::uint64_t> ms = drl::core::parse_duration_ms(text);
  if (!ms || *ms == 0) {
    throw cxxopts::exceptions::exception("--" + std::string(name) + " '" + text +
                                         "' is not a duration such as 250ms, 10s, 15m, 1h");
  }
  return *ms;
}

void add_scope_options(cxxopts::Options& spec) {
  spec.add_options()("policy", "the policy", cxxopts::value<std::string>(), "P")(
      "tier", "only this tier's limits (default: every tier)", cxxopts::value<std::string>(), "T")(
      "endpoint", "only this endpoint's limits, as configured (\"GET /v1/*\" for a prefix)",
      cxxopts::value<std::string>(), "E")("window", "only the limit with this window (e.g. 1m)",
                                          cxxopts::value<std::string>(), "W");
}

drl::OverrideScopeSpec scope_of(const cxxopts::ParseResult& args) {
  drl::OverrideScopeSpec scope;
  scope.policy = args["policy"].as<std::string>();
  if (args.count("tier") != 0) scope.tier = args["tier"].as<std::string>();
  if (args.count("endpoint") != 0) scope.endpoint = args["endpoint"].as<std::string>();
  if (args.count("window") != 0) scope.window_ms = duration_option(args, "window");
  return scope;
}

std::string value_text(const drl::OverrideInfo& info) {
  if (info.kind != "factor") return "limit " + std::to_string(info.value);
  char text[32];
  std::snprintf(text, sizeof text, "factor %.3g", static_cast<double>(info.value) / 1000.0);
  return text;
}

std::string override_line(const drl::OverrideInfo& info) {
  std::string line = "policy=" + info.scope.policy;
  if (!info.scope.tier.empty()) line += "  tier=" + info.scope.tier;
  if (!info.scope.endpoint.empty()) line += "  endpoint=" + info.scope.endpoint;
  if (info.scope.window_ms != 0)
    line += "  window=" + drl::core::format_duration_ms(info.scope.window_ms);
  line += "  " + value_text(info) + "  expires_in=" + wait_text(info.remaining_ms) +
          "  set_by=" + info.set_by;
  if (!info.reason.empty()) line += "  reason=\"" + info.reason + "\"";
  return line;
}

int run_override_set(int argc, char** argv) {
  cxxopts::Options spec = command_options(
      "override set", "change limits cluster-wide until the TTL ends; the newest set wins");
  add_scope_options(spec);
  spec.add_options()("limit", "the limit in force (needs one window: --window if several)",
                     cxxopts::value<std::string>(), "N")(
      "factor", "or the configured limits times F (0.5 halves them; 0.001 to 100)",
      cxxopts::value<double>(), "F")("ttl", "how long it stays in force (e.g. 15m)",
                                     cxxopts::value<std::string>(), "DURATION")(
      "reason", "why, for `drl override list` and the logs", cxxopts::value<std::string>(), "TEXT");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (args.count("policy") == 0 || args.count("ttl") == 0 ||
      (args.count("limit") != 0) == (args.count("factor") != 0)) {
    std::fprintf(stderr,
                 "drl override set: --policy, --ttl and exactly one of --limit and --factor are "
                 "required (see drl override set --help)\n");
    return kExitError;
  }
  drl::OverrideSpec request;
  request.scope = scope_of(args);
  request.ttl_ms = duration_option(args, "ttl");
  if (args.count("reason") != 0) request.reason = args["reason"].as<std::string>();
  if (args.count("limit") != 0) {
    request.limit = uint_option(args, "limit", 0, UINT64_MAX);
  } else {
    const double factor = args["factor"].as<double>();
    const double permille = std::round(factor * 1000.0);
    if (!std::isfinite(factor) || permille < 1 || permille > 1e9) {
      std::fprintf(stderr, "drl override set: --factor must be at least 0.001\n");
      return kExitError;
    }
    request.factor_permille = static_cast<std::uint64_t>(permille);
  }
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  const drl::Result<drl::OverrideInfo> stored = client->override_set(request);
  if (!stored.ok()) return fail(stored.error());
  std::printf("override set: %s\n", override_line(stored.value()).c_str());
  return kExitAllowed;
}

int run_override_list(int argc, char** argv) {
  cxxopts::Options spec = command_options("override list", "show the overrides in force");
  spec.add_options()("json", "print them as a JSON array");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  if (args.count("json") != 0) {
    const drl::Result<std::string> json = client->override_list_json();
    if (!json.ok()) return fail(json.error());
    std::puts(json.value().c_str());
    return kExitAllowed;
  }
  const drl::Result<std::vector<drl::OverrideInfo>> listed = client->override_list();
  if (!listed.ok()) return fail(listed.error());
  if (listed->empty()) {
    std::puts("no overrides in force");
    return kExitAllowed;
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  const auto or_every = [](const std::string& text) { return text.empty() ? "*" : text; };
  for (const drl::OverrideInfo& info : listed.value()) {
    rows.push_back(
        {{"policy", info.scope.policy},
         {"tier", or_every(info.scope.tier)},
         {"endpoint", or_every(info.scope.endpoint)},
         {"window",
          info.scope.window_ms == 0 ? "*" : drl::core::format_duration_ms(info.scope.window_ms)},
         {"override", value_text(info)},
         {"expires_in", wait_text(info.remaining_ms)},
         {"set_by", info.set_by},
         {"reason", info.reason}});
  }
  print_table(rows, "");
  return kExitAllowed;
}

int run_override_clear(int argc, char** argv) {
  cxxopts::Options spec =
      command_options("override clear", "end an override cluster-wide before its TTL");
  add_scope_options(spec);
  spec.add_options()("all", "every override in force");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  const bool all = args.count("all") != 0;
  if (all == (args.count("policy") != 0)) {
    std::fprintf(stderr,
                 "drl override clear: either --policy (with the scope's --tier, --endpoint, "
                 "--window as set) or --all (see drl override clear --help)\n");
    return kExitError;
  }
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  const drl::Result<std::uint64_t> cleared =
      all ? client->override_clear_all() : client->override_clear(scope_of(args));
  if (!cleared.ok()) return fail(cleared.error());
  std::printf("cleared %llu override%s\n", static_cast<unsigned long long>(cleared.value()),
              cleared.value() == 1 ? "" : "s");
  return kExitAllowed;
}

int run_override(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "set") return run_override_set(argc - 1, argv + 1);
  if (sub == "list") return run_override_list(argc - 1, argv + 1);
  if (sub == "clear") return run_override_clear(argc - 1, argv + 1);
  const char* const usage =
      "usage: drl override set|list|clear [options]   (docs/dynamic-limits.md)\n"
      "  set    --policy P [--tier T] [--endpoint E] [--window W] (--limit N | --factor F)\n"
      "         --ttl DURATION [--reason TEXT]   a limit in force cluster-wide until the TTL\n"
      "  list   [--json]   the active overrides\n"
      "  clear  (--policy P [--tier T] [--endpoint E] [--window W] | --all)\n"
      "run `drl override set --help` (list, clear) for a subcommand's options\n";
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(usage, stdout);
    return kExitAllowed;
  }
  std::fputs(usage, stderr);
  return kExitError;
}

int run_report(int argc, char** argv) {
  cxxopts::Options spec =
      command_options("report", "report the application's load signal NAME with VALUE");
  spec.add_options()("name", "", cxxopts::value<std::string>())("value", "",
                                                                cxxopts::value<std::string>());
  spec.parse_positional({"name", "value"});
  spec.positional_help("NAME VALUE");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (args.count("name") == 0 || args.count("value") == 0) {
    std::fprintf(stderr, "drl report: NAME and VALUE are required (see drl report --help)\n");
    return kExitError;
  }
  const std::string text = args["value"].as<std::string>();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) {
    std::fprintf(stderr, "drl report: VALUE '%s' is not a number\n", text.c_str());
    return kExitError;
  }
  auto client = drl::Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  const drl::Result<drl::Done> reported = client->report(args["name"].as<std::string>(), value);
  if (!reported.ok()) return fail(reported.error());
  return kExitAllowed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitError;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitAllowed;
  }
  if (command == "--version" || command == "version") {
    std::printf("drl %s\n", DRL_VERSION);
    return kExitAllowed;
  }
  try {
    // The command's own options start after its name.
    if (command == "check") return run_check(argc - 1, argv + 1);
    if (command == "reload") return run_reload(argc - 1, argv + 1);
    if (command == "status") return run_status(argc - 1, argv + 1);
    if (command == "ping") return run_ping(argc - 1, argv + 1);
    if (command == "inspect") return run_inspect(argc - 1, argv + 1);
    if (command == "override") return run_override(argc - 1, argv + 1);
    if (command == "report") return run_report(argc - 1, argv + 1);
  } catch (const cxxopts::exceptions::exception& error) {
    std::fprintf(stderr, "drl %s: %s (see drl %s --help)\n", command.c_str(), error.what(),
                 command.c_str());
    return kExitError;
  }
  std::fprintf(stderr, "drl: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return kExitError;
}
