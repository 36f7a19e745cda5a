// The command line of `drl COMMAND`: every command's common options and the checked reading of
// its values. A value that does not parse throws cxxopts::exceptions::exception naming the
// option; main reports it as "drl COMMAND: ... (see drl COMMAND --help)" and exits 2.
#pragma once

#include <cxxopts.hpp>

#include <cstdint>
#include <string>

#include "drl/override.hpp"

namespace drl::cli {

// A command's spec with the options every command takes: --socket and --help.
cxxopts::Options command_options(const std::string& command, const std::string& what);

// `drl COMMAND --help`: prints the command's options; true if it did.
bool help_requested(const cxxopts::Options& spec, const cxxopts::ParseResult& args);

// --socket, else $DRL_SOCKET, else the default path.
std::string socket_of(const cxxopts::ParseResult& args);

// A string option's value; empty when not given.
std::string string_option(const cxxopts::ParseResult& args, const char* name);

// "--cost 3": a whole number from low to high.
std::uint64_t uint_option(const cxxopts::ParseResult& args, const char* name, std::uint64_t low,
                          std::uint64_t high);

// "--window 1m" and "--ttl 15m": durations as the config writes them, not zero.
std::uint64_t duration_option(const cxxopts::ParseResult& args, const char* name);

// The scope of an override (`drl override set` and `clear`): --policy, --tier, --endpoint,
// --window, --key.
void add_scope_options(cxxopts::Options& spec);
// Precondition: --policy was given.
OverrideScopeSpec scope_of(const cxxopts::ParseResult& args);
// False, with a message for `command`, if --key was given empty: an empty key would otherwise
// mean "every key", the opposite of what was typed.
bool key_option_valid(const cxxopts::ParseResult& args, const char* command);

}  // namespace drl::cli
