// drl: the command-line client and admin tool of drld. See `drl --help`.
//
// Exit status: 0 allowed / success, 1 denied, 2 error (message on stderr).
//
// Each command parses its options (drl_options.hpp), asks drld through the client library and
// prints the answer (drl_output.hpp). The exchange with drld is the same for all of them
// (ask_drld): a command states only its options, its request and how it prints the answer.
#include <cxxopts.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "drl/client.hpp"
#include "tools/drl_options.hpp"
#include "tools/drl_output.hpp"

#ifndef DRL_VERSION
#define DRL_VERSION "unknown"
#endif

namespace drl::cli {
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
    "  override set --policy P [--tier T] [--endpoint E] [--window W] [--key K]\n"
    "               (--limit N | --factor F | --block) --ttl DURATION [--reason TEXT]\n"
    "          change limits cluster-wide until the TTL ends (docs/dynamic-limits.md)\n"
    "  override list [--json]  the overrides and key resets in force\n"
    "  override clear (--policy P [--tier T] [--endpoint E] [--window W] [--key K] | --all)\n"
    "  key reset --policy P --key K [--tier T] [--endpoint E] [--reason TEXT]\n"
    "          forget what the key has counted so far, on every node\n"
    "  report  NAME VALUE  the application's load signal NAME (a number)\n"
    "\n"
    "every command takes --socket PATH (default: $DRL_SOCKET, else /run/drl/drld.sock)\n"
    "run `drl COMMAND --help` for a command's options\n";

int fail(const Error& error) {
  std::fprintf(stderr, "drl: %s: %s\n", std::string(errc_name(error.code)).c_str(),
               error.message.c_str());
  return kExitError;
}

// Connects to drld (--socket) and runs `session` on the connection, which returns the exit
// status. A connection drld refuses ends the command with exit 2, whatever the command.
template <typename Session>
int with_drld(const cxxopts::ParseResult& args, Session&& session) {
  Result<Client> client = Client::connect(socket_of(args));
  if (!client.ok()) return fail(client.error());
  return session(client.value());
}

// One request, one answer: `ask` sends the request on the connection and returns drld's answer;
// `print` shows it and the command exits 0. An error answer exits 2.
template <typename Ask, typename Print>
int ask_drld(const cxxopts::ParseResult& args, Ask&& ask, Print&& print) {
  return with_drld(args, [&](Client& client) {
    const auto answer = ask(client);
    if (!answer.ok()) return fail(answer.error());
    print(answer.value());
    return kExitAllowed;
  });
}

// The same for a command with --json: with it, drld writes the JSON and drl prints it as is
// (`ask_json`); without, drl formats the decoded answer (`ask`, `print`).
template <typename AskJson, typename Ask, typename Print>
int ask_drld_json_or_text(const cxxopts::ParseResult& args, AskJson&& ask_json, Ask&& ask,
                          Print&& print) {
  if (args.count("json") != 0) {
    return ask_drld(args, ask_json, [](const std::string& json) { std::puts(json.c_str()); });
  }
  return ask_drld(args, ask, print);
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
  const std::string tier = string_option(args, "tier");
  const std::string endpoint = string_option(args, "endpoint");
  const auto cost = static_cast<std::uint32_t>(uint_option(args, "cost", 0, UINT32_MAX));
  const CheckRequest request{policy, key, cost, tier, endpoint};
  const bool as_json = args.count("json") != 0;
  // Not ask_drld: one connection for --repeat checks, and the exit status is the last decision.
  return with_drld(args, [&](Client& client) {
    // Read after connecting, as drl always has: an unreachable drld is the error reported first.
    const auto repeat = static_cast<std::uint32_t>(uint_option(args, "repeat", 1, UINT32_MAX));
    int status = kExitError;
    for (std::uint32_t i = 0; i < repeat; ++i) {
      const Result<Decision> decision = client.check(request, as_json);
      if (!decision.ok()) return fail(decision.error());
      std::puts(as_json ? decision_json(decision.value()).c_str()
                        : decision_text(decision.value()).c_str());
      status = decision->allowed ? kExitAllowed : kExitDenied;
    }
    return status;
  });
}

int run_reload(int argc, char** argv) {
  cxxopts::Options spec = command_options("reload", "make drld re-read its config file now");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  return ask_drld(
      args, [](Client& client) { return client.reload(); },
      [](const std::string& message) { std::printf("reloaded: %s\n", message.c_str()); });
}

int run_status(int argc, char** argv) {
  cxxopts::Options spec = command_options("status", "show the node's state");
  spec.add_options()("json", "print the status as one JSON object");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  return ask_drld_json_or_text(
      args, [](Client& client) { return client.status_json(); },
      [](Client& client) { return client.status(); }, print_status);
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
  const std::string tier = string_option(args, "tier");
  const std::string endpoint = string_option(args, "endpoint");
  const CheckRequest request{policy, key, 0, tier, endpoint};
  return ask_drld_json_or_text(
      args, [&](Client& client) { return client.inspect_json(request); },
      [&](Client& client) { return client.inspect(request); }, print_counters);
}

int run_ping(int argc, char** argv) {
  cxxopts::Options spec = command_options("ping", "check that drld answers");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  return ask_drld(
      args, [](Client& client) { return client.ping(); },
      [](const std::string& version) { std::printf("pong from %s\n", version.c_str()); });
}

int run_override_set(int argc, char** argv) {
  cxxopts::Options spec = command_options(
      "override set", "change limits cluster-wide until the TTL ends; the newest set wins");
  add_scope_options(spec);
  spec.add_options()("limit", "the limit in force (needs one window: --window if several)",
                     cxxopts::value<std::string>(), "N")(
      "factor", "or the configured limits times F (0.5 halves them; 0.001 to 100)",
      cxxopts::value<double>(), "F")("block", "or deny every check of --key until the TTL ends")(
      "ttl", "how long it stays in force (e.g. 15m)", cxxopts::value<std::string>(), "DURATION")(
      "reason", "why, for `drl override list` and the logs", cxxopts::value<std::string>(), "TEXT");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (!key_option_valid(args, "override set")) return kExitError;
  const std::size_t values = args.count("limit") + args.count("factor") + args.count("block");
  if (args.count("policy") == 0 || args.count("ttl") == 0 || values != 1) {
    std::fprintf(stderr,
                 "drl override set: --policy, --ttl and exactly one of --limit, --factor and "
                 "--block are required (see drl override set --help)\n");
    return kExitError;
  }
  if (args.count("block") != 0 && args.count("key") == 0) {
    std::fprintf(stderr,
                 "drl override set: --block blocks one key: name it with --key (to stop a whole "
                 "policy, set a low --limit)\n");
    return kExitError;
  }
  OverrideSpec request;
  request.scope = scope_of(args);
  request.ttl_ms = duration_option(args, "ttl");
  if (args.count("reason") != 0) request.reason = args["reason"].as<std::string>();
  if (args.count("block") != 0) {
    request.block = true;
  } else if (args.count("limit") != 0) {
    request.limit = uint_option(args, "limit", 0, UINT64_MAX);
  } else {
    const double factor = args["factor"].as<double>();
    const double permille = std::round(factor * 1000.0);
    if (!std::isfinite(factor) || factor < 0.001 || permille > 1e9) {
      std::fprintf(stderr, "drl override set: --factor must be at least 0.001\n");
      return kExitError;
    }
    request.factor_permille = static_cast<std::uint64_t>(permille);
  }
  return ask_drld(
      args, [&](Client& client) { return client.override_set(request); },
      [](const OverrideInfo& stored) {
        std::printf("override set: %s\n", override_line(stored).c_str());
      });
}

int run_override_list(int argc, char** argv) {
  cxxopts::Options spec =
      command_options("override list", "show the overrides and key resets in force");
  spec.add_options()("json", "print them as a JSON array");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  return ask_drld_json_or_text(
      args, [](Client& client) { return client.override_list_json(); },
      [](Client& client) { return client.override_list(); }, print_overrides);
}

int run_override_clear(int argc, char** argv) {
  cxxopts::Options spec =
      command_options("override clear", "end an override cluster-wide before its TTL");
  add_scope_options(spec);
  spec.add_options()("all", "every override in force");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (!key_option_valid(args, "override clear")) return kExitError;
  const bool all = args.count("all") != 0;
  const std::size_t scoped = args.count("policy") + args.count("tier") + args.count("endpoint") +
                             args.count("window") + args.count("key");
  if (all ? scoped != 0 : args.count("policy") == 0) {
    std::fprintf(stderr,
                 "drl override clear: either --policy with the override's --tier, --endpoint, "
                 "--window and --key as it was set, or --all alone (every override) (see drl "
                 "override clear --help)\n");
    return kExitError;
  }
  return ask_drld(
      args,
      [&](Client& client) {
        return all ? client.override_clear_all() : client.override_clear(scope_of(args));
      },
      [all](std::uint64_t cleared) {
        std::printf("cleared %llu override%s\n", static_cast<unsigned long long>(cleared),
                    cleared == 1 ? "" : "s");
        if (cleared == 0 && !all) {
          std::puts(
              "  (a clear names the override's scope exactly as it was set: its --tier, "
              "--endpoint, --window and --key; `drl override list` shows them)");
        }
      });
}

int run_key_reset(int argc, char** argv) {
  cxxopts::Options spec = command_options(
      "key reset", "forget what a key has counted so far in its current windows, on every node");
  spec.add_options()("policy", "the policy", cxxopts::value<std::string>(), "P")(
      "key", "the key", cxxopts::value<std::string>(), "K")(
      "tier", "the tier, as a check names it (its limits' counters)", cxxopts::value<std::string>(),
      "T")("endpoint", "the endpoint, as a check names it: also resets its endpoint's counters",
           cxxopts::value<std::string>(),
           "E")("reason", "why, for the logs", cxxopts::value<std::string>(), "TEXT");
  const cxxopts::ParseResult args = spec.parse(argc, argv);
  if (help_requested(spec, args)) return kExitAllowed;
  if (args.count("policy") == 0 || args.count("key") == 0) {
    std::fprintf(stderr,
                 "drl key reset: --policy and --key are required (see drl key reset --help)\n");
    return kExitError;
  }
  OverrideScopeSpec scope;
  scope.policy = args["policy"].as<std::string>();
  scope.key = args["key"].as<std::string>();
  if (scope.key.empty()) {
    std::fprintf(stderr, "drl key reset: --key is empty (empty_key)\n");
    return kExitError;
  }
  scope.tier = string_option(args, "tier");
  scope.endpoint = string_option(args, "endpoint");
  const std::string reason = string_option(args, "reason");
  return ask_drld(
      args, [&](Client& client) { return client.key_reset(scope, reason); },
      [](const OverrideInfo& stored) {
        std::printf("key reset: %s\n", override_line(stored).c_str());
        std::printf("  %s\n", forgotten_text(stored.forgotten).c_str());
      });
}

int run_key(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "reset") return run_key_reset(argc - 1, argv + 1);
  const char* const usage =
      "usage: drl key reset --policy P --key K [--tier T] [--endpoint E] [--reason TEXT]\n"
      "  forget what the key has counted so far, on every node (docs/dynamic-limits.md)\n"
      "  to block a key or change its limit: drl override set --key K ...\n";
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(usage, stdout);
    return kExitAllowed;
  }
  if (!sub.empty()) std::fprintf(stderr, "drl key: unknown subcommand '%s'\n", sub.c_str());
  std::fputs(usage, stderr);
  return kExitError;
}

int run_override(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "set") return run_override_set(argc - 1, argv + 1);
  if (sub == "list") return run_override_list(argc - 1, argv + 1);
  if (sub == "clear") return run_override_clear(argc - 1, argv + 1);
  const char* const usage =
      "usage: drl override set|list|clear [options]   (docs/dynamic-limits.md)\n"
      "  set    --policy P [--tier T] [--endpoint E] [--window W] [--key K]\n"
      "         (--limit N | --factor F | --block) --ttl DURATION [--reason TEXT]\n"
      "         a limit in force cluster-wide until the TTL\n"
      "  list   [--json]   the active overrides and key resets\n"
      "  clear  (--policy P [--tier T] [--endpoint E] [--window W] [--key K] | --all)\n"
      "run `drl override set --help` (list, clear) for a subcommand's options\n";
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(usage, stdout);
    return kExitAllowed;
  }
  if (!sub.empty()) std::fprintf(stderr, "drl override: unknown subcommand '%s'\n", sub.c_str());
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
  return ask_drld(
      args, [&](Client& client) { return client.report(args["name"].as<std::string>(), value); },
      [](Done) {});  // silent on success, as a script's call should be
}

// `drl COMMAND [options]`: the exit status of the command.
int run(int argc, char** argv) {
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
    if (command == "key") return run_key(argc - 1, argv + 1);
  } catch (const cxxopts::exceptions::exception& error) {
    // "drl key reset", not "drl key": the command with its subcommand, if it has one.
    std::string name = command;
    if ((command == "key" || command == "override") && argc > 2 && argv[2][0] != '-') {
      name += std::string(" ") + argv[2];
    }
    // cxxopts quotes with U+2018/U+2019; drl's other messages use plain quotes.
    std::string message = error.what();
    for (const std::string_view curly : {"\u2018", "\u2019"}) {
      for (std::size_t at = message.find(curly); at != std::string::npos;
           at = message.find(curly, at)) {
        message.replace(at, curly.size(), "'");
      }
    }
    std::fprintf(stderr, "drl %s: %s (see drl %s --help)\n", name.c_str(), message.c_str(),
                 name.c_str());
    return kExitError;
  }
  if (command.size() > 1 && command[0] == '-') {
    std::fprintf(stderr,
                 "drl: '%s' is an option: options come after the command (drl check %s ...)\n\n%s",
                 command.c_str(), command.c_str(), kUsage);
    return kExitError;
  }
  std::fprintf(stderr, "drl: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return kExitError;
}

}  // namespace
}  // namespace drl::cli

int main(int argc, char** argv) {
  return drl::cli::run(argc, argv);
}
