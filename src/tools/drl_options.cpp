#include "tools/drl_options.hpp"

#include <charconv>
#include <cstdio>
#include <iostream>
#include <optional>
#include <system_error>

#include "core/duration.hpp"
#include "drl/client.hpp"

namespace drl::cli {

cxxopts::Options command_options(const std::string& command, const std::string& what) {
  cxxopts::Options spec("drl " + command, what);
  spec.add_options()("socket", "drld's Unix socket", cxxopts::value<std::string>(), "PATH")(
      "h,help", "print this help");
  return spec;
}

bool help_requested(const cxxopts::Options& spec, const cxxopts::ParseResult& args) {
  if (args.count("help") == 0) return false;
  std::cout << spec.help() << "\n";
  return true;
}

std::string socket_of(const cxxopts::ParseResult& args) {
  return args.count("socket") != 0 ? args["socket"].as<std::string>()
                                   : Client::default_socket_path();
}

std::string string_option(const cxxopts::ParseResult& args, const char* name) {
  return args.count(name) != 0 ? args[name].as<std::string>() : "";
}

// Parsed here rather than by cxxopts, whose error ("Argument '-1' failed to parse") does not
// name the option.
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

std::uint64_t duration_option(const cxxopts::ParseResult& args, const char* name) {
  const std::string text = args[name].as<std::string>();
  const std::optional<std::uint64_t> ms = core::parse_duration_ms(text);
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
      cxxopts::value<std::string>(),
      "E")("window", "only the limit with this window (e.g. 1m)", cxxopts::value<std::string>(),
           "W")("key", "only this key (default: every key)", cxxopts::value<std::string>(), "K");
}

bool key_option_valid(const cxxopts::ParseResult& args, const char* command) {
  if (args.count("key") == 0 || !args["key"].as<std::string>().empty()) return true;
  std::fprintf(stderr, "drl %s: --key is empty (empty_key); to act on every key, leave --key out\n",
               command);
  return false;
}

OverrideScopeSpec scope_of(const cxxopts::ParseResult& args) {
  OverrideScopeSpec scope;
  scope.policy = args["policy"].as<std::string>();
  if (args.count("tier") != 0) scope.tier = args["tier"].as<std::string>();
  if (args.count("endpoint") != 0) scope.endpoint = args["endpoint"].as<std::string>();
  if (args.count("window") != 0) scope.window_ms = duration_option(args, "window");
  if (args.count("key") != 0) scope.key = args["key"].as<std::string>();
  return scope;
}

}  // namespace drl::cli
