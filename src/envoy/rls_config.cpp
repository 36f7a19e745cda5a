#include "envoy/rls_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
#include <set>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "config/config.hpp"
#include "core/bounds.hpp"
#include "core/duration.hpp"
#include "wire/utf8.hpp"

namespace drl::envoy {
namespace {

constexpr std::uint64_t second_ms = 1000;
constexpr std::uint64_t day_ms = 24 * 3600 * second_ms;

// Thrown inside this file only, caught by parse_rls_file: the first problem ends the parse.
struct Rejected {
  std::string message;
};

std::string in_quotes(std::string_view text) {
  std::string out = "'";
  out.append(text.substr(0, 80));
  if (text.size() > 80) out.append("...");
  out.push_back('\'');
  return out;
}

std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

// Names as envoyproxy/ratelimit reads them: the proto enum's names, in any case.
std::optional<RlsUnit> unit_from_name(std::string_view name) {
  const std::string upper = ascii_upper(name);
  if (upper == "SECOND") return RlsUnit::second;
  if (upper == "MINUTE") return RlsUnit::minute;
  if (upper == "HOUR") return RlsUnit::hour;
  if (upper == "DAY") return RlsUnit::day;
  if (upper == "WEEK") return RlsUnit::week;
  if (upper == "MONTH") return RlsUnit::month;
  if (upper == "YEAR") return RlsUnit::year;
  return std::nullopt;
}

// The unit whose window is exactly `window_ms`, if any: what current_limit can report.
RlsUnit unit_of_window(std::uint64_t window_ms) {
  for (RlsUnit unit : {RlsUnit::second, RlsUnit::minute, RlsUnit::hour, RlsUnit::day, RlsUnit::week,
                       RlsUnit::month}) {
    const Result<std::uint64_t> window = rls_unit_window_ms(unit);
    if (window.ok() && window.value() == window_ms) return unit;
  }
  return RlsUnit::unknown;
}

// YAML 1.1 booleans, as envoyproxy/ratelimit's YAML library (yaml.v2) reads them.
std::optional<bool> bool_from_text(std::string_view text) {
  static constexpr std::string_view yes[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                             "True", "TRUE", "on",  "On",  "ON"};
  static constexpr std::string_view no[] = {"n",     "N",     "no",  "No",  "NO", "false",
                                            "False", "FALSE", "off", "Off", "OFF"};
  for (std::string_view word : yes) {
    if (text == word) return true;
  }
  for (std::string_view word : no) {
    if (text == word) return false;
  }
  return std::nullopt;
}

class FileParser {
 public:
  FileParser(std::string_view file_name, const RlsParseOptions& options)
      : file_(file_name), options_(options) {}

  RlsDomainConfig parse(const YAML::Node& root) {
    RlsDomainConfig out;
    out.file = file_;
    if (root.IsNull()) reject(root, "the file is empty: it needs a domain (domain: NAME)");
    if (!root.IsMap()) reject(root, "the top level is a mapping (domain:, descriptors:)");
    bool has_domain = false;
    for_each_entry(root, [&](const std::string& key, const YAML::Node& name_node,
                             const YAML::Node& value) {
      if (key == "domain") {
        out.domain = string_of(value, "domain");
        has_domain = true;
        if (out.domain.empty()) reject(value, "the domain is empty");
        if (out.domain.size() > bounds::rls_domain_bytes_max) {
          reject(value, "the domain has " + std::to_string(out.domain.size()) + " bytes; at most " +
                            std::to_string(bounds::rls_domain_bytes_max) + " are allowed");
        }
      } else if (key == "descriptors") {
        descriptors_node_ = value;
      } else {
        reject_key(name_node, key, "the top level", "domain, descriptors");
      }
    });
    if (!has_domain) reject(root, "no domain: a file names its domain (domain: NAME)");
    domain_ = out.domain;
    out.descriptors = descriptor_list(descriptors_node_, "", 1);
    out.limited_count = limited_count_;
    return out;
  }

 private:
  [[noreturn]] void reject_at(const YAML::Mark& mark, const std::string& message) const {
    throw Rejected{position(mark).text() + ": " + message};
  }
  [[noreturn]] void reject(const YAML::Node& at, const std::string& message) const {
    reject_at(at.Mark(), message);
  }
  [[noreturn]] void reject_key(const YAML::Node& name_node, const std::string& key,
                               std::string_view where, std::string_view allowed) const {
    std::string message = "unknown key " + in_quotes(key) + " in " + std::string(where) +
                          " (allowed: " + std::string(allowed) + ")";
    // A known key in the wrong place, which envoyproxy/ratelimit would silently ignore.
    constexpr std::string_view descriptor_keys[] = {"key",
                                                    "value",
                                                    "descriptors",
                                                    "shadow_mode",
                                                    "detailed_metric",
                                                    "value_to_metric",
                                                    "share_threshold"};
    constexpr std::string_view rate_limit_keys[] = {"unit", "requests_per_unit", "unlimited",
                                                    "name", "replaces"};
    const auto listed = [&key](const auto& keys) {
      return std::find(std::begin(keys), std::end(keys), key) != std::end(keys);
    };
    if (where != "a descriptor" && listed(descriptor_keys)) {
      message += ": " + key + " belongs on the descriptor, beside rate_limit";
    } else if (where == "a descriptor" && listed(rate_limit_keys)) {
      message += ": " + key + " belongs inside the descriptor's rate_limit";
    }
    if (key == "quota_mode") {
      message =
          "quota_mode is not supported: in envoyproxy/ratelimit it answers OK while every quota "
          "group is over its limit but one, and tells Envoy which ones passed in dynamic "
          "metadata, which drl does not send; drl refuses it rather than give it another "
          "meaning (docs/integration.md#envoy)";
    }
    reject(name_node, message);
  }

  SourcePosition position(const YAML::Mark& mark) const {
    SourcePosition out;
    out.file = file_;
    if (!mark.is_null()) {
      out.line = static_cast<std::uint32_t>(mark.line + 1);
      out.column = static_cast<std::uint32_t>(mark.column + 1);
    }
    return out;
  }

  // Every node the parse looks at passes here: aliases can make a small text a huge tree.
  void visit(const YAML::Node& node) {
    if (++visited_ > bounds::envoy_config_nodes_visited_max) {
      reject(node, "the file expands to more than " +
                       std::to_string(bounds::envoy_config_nodes_visited_max) +
                       " YAML nodes (aliases?)");
    }
  }

  // Calls `each(key, key_node, value_node)` for the entries of a mapping, in order; duplicate
  // keys and keys that are not strings are errors.
  template <class Each>
  void for_each_entry(const YAML::Node& map, Each each) {
    std::unordered_map<std::string, std::uint32_t> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key_node = it->first;
      const YAML::Node value = it->second;
      visit(key_node);
      visit(value);
      if (!key_node.IsScalar()) reject(key_node, "a key of a mapping is not a string");
      const std::string& key = key_node.Scalar();
      const auto [previous, fresh] = seen.emplace(key, position(key_node.Mark()).line);
      if (!fresh) {
        reject(key_node, "duplicate key " + in_quotes(key) + " (first at line " +
                             std::to_string(previous->second) + ")");
      }
      each(key, key_node, value);
    }
  }

  static bool plain(const YAML::Node& node) { return node.Tag() == "?"; }

  std::string string_of(const YAML::Node& node, std::string_view what) const {
    if (node.IsNull()) return {};
    if (!node.IsScalar()) reject(node, std::string(what) + " is a string, not a list or mapping");
    return node.Scalar();
  }

  bool bool_of(const YAML::Node& node, std::string_view what) const {
    if (node.IsNull()) return false;
    const std::optional<bool> value =
        node.IsScalar() && plain(node) ? bool_from_text(node.Scalar()) : std::nullopt;
    if (!value) reject(node, std::string(what) + " is true or false");
    return *value;
  }

  std::uint64_t count_of(const YAML::Node& node, std::string_view what) const {
    if (node.IsNull()) return 0;
    const std::string text = node.IsScalar() && plain(node) ? node.Scalar() : std::string();
    const std::string problem =
        std::string(what) + " is a whole number from 0 to " + std::to_string(bounds::limit_max);
    if (text.empty() || text.size() > 10) reject(node, problem);
    std::uint64_t value = 0;
    for (char c : text) {
      if (c < '0' || c > '9') reject(node, problem);
      value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (value > bounds::limit_max) reject(node, problem);
    return value;
  }

  // A unit's window, or the error (an unknown unit) at the unit's position.
  std::uint64_t window_of_unit(const YAML::Node& node, RlsUnit unit) const {
    const Result<std::uint64_t> window = rls_unit_window_ms(unit);
    if (!window.ok()) reject(node, window.error().message);
    return window.value();
  }

  // A `rate_limit:` mapping, or one element of `rate_limits:` (`full`: the first, which also
  // takes unlimited, name and replaces).
  void limit_of(const YAML::Node& node, bool full, RlsDescriptorNode& out) {
    const char* const where = full ? "rate_limit" : "an element of rate_limits";
    if (!node.IsMap())
      reject(node, std::string(where) + " is a mapping (unit:, requests_per_unit:)");
    RlsLimitSpec limit;
    limit.position = position(node.Mark());
    limit.algorithm = options_.default_algorithm;
    // Default-constructed YAML::Nodes count as defined: presence is tracked apart.
    YAML::Node unit_node;
    YAML::Node window_node;
    bool has_unit = false;
    bool has_window = false;
    for_each_entry(node, [&](const std::string& key, const YAML::Node& name_node,
                             const YAML::Node& value) {
      if (key == "unit") {
        unit_node = value;
        has_unit = true;
      } else if (key == "requests_per_unit") {
        limit.requests_per_unit = count_of(value, "requests_per_unit");
      } else if (key == "window") {  // drl
        window_node = value;
        has_window = true;
      } else if (key == "algorithm") {  // drl
        const std::string name = string_of(value, "algorithm");
        const std::optional<core::Algorithm> algorithm = core::algorithm_from_name(name);
        if (!algorithm) reject(value, "algorithm " + in_quotes(name) + " is fixed or sliding");
        limit.algorithm = *algorithm;
      } else if (full && key == "unlimited") {
        out.unlimited = bool_of(value, "unlimited");
      } else if (full && key == "name") {
        out.name = string_of(value, "name");
      } else if (full && key == "replaces") {
        replaces_of(value, out);
      } else {
        reject_key(name_node, key, where,
                   full ? "unit, requests_per_unit, unlimited, name, replaces, window, algorithm"
                        : "unit, requests_per_unit, window, algorithm");
      }
    });
    for (const std::string& replaced : out.replaces) {
      if (!out.name.empty() && replaced == out.name) {
        reject(node, "replaces should not contain the name of the same descriptor (" +
                         in_quotes(replaced) + ")");
      }
    }
    if (out.unlimited) {
      if (has_unit || has_window) {
        reject(has_unit ? unit_node : window_node,
               "should not specify a rate limit unit (or window) when unlimited");
      }
      return;
    }
    if (has_unit && has_window) {
      reject(window_node, "give unit or window, not both (window: is drl's, for any length)");
    }
    if (has_window) {
      const std::string text = string_of(window_node, "window");
      const std::optional<std::uint64_t> ms = core::parse_duration_ms(text);
      if (!ms) {
        reject(window_node, "window " + in_quotes(text) +
                                " is not a duration (examples: 250ms, 10s, 5m, 1h, 1d)");
      }
      if (!bounds::window_ms_valid(*ms)) {
        reject(window_node, "window " + in_quotes(text) + " is outside " +
                                core::format_duration_ms(bounds::window_ms_min) + " .. " +
                                core::format_duration_ms(bounds::window_ms_max) +
                                " (above 31d, whole seconds)");
      }
      limit.window_ms = *ms;
      limit.unit = unit_of_window(*ms);
    } else {
      const std::string name = has_unit ? string_of(unit_node, "unit") : std::string();
      const std::optional<RlsUnit> unit = unit_from_name(name);
      if (!unit) {
        reject(has_unit ? unit_node : node,
               "invalid rate limit unit " + in_quotes(name) +
                   " (second, minute, hour, day, week, month, year; or drl's window: 5m)");
      }
      limit.unit = *unit;
      limit.window_ms = window_of_unit(unit_node, *unit);
    }
    out.limits.push_back(std::move(limit));
  }

  void replaces_of(const YAML::Node& node, RlsDescriptorNode& out) {
    if (node.IsNull()) return;
    if (!node.IsSequence()) reject(node, "replaces is a list of mappings (- name: NAME)");
    for (const YAML::Node& element : node) {
      visit(element);
      if (!element.IsMap()) reject(element, "an element of replaces is a mapping (name: NAME)");
      std::string name;
      for_each_entry(element, [&](const std::string& key, const YAML::Node& name_node,
                                  const YAML::Node& value) {
        if (key != "name") reject_key(name_node, key, "an element of replaces", "name");
        name = string_of(value, "name");
      });
      if (name.empty()) reject(element, "should not have an empty replaces entry");
      out.replaces.push_back(std::move(name));
    }
  }

  void rate_limits_of(const YAML::Node& node, RlsDescriptorNode& out) {
    if (!node.IsSequence() || node.size() == 0) {
      reject(node, "rate_limits is a list of limits (- unit: minute, requests_per_unit: 10)");
    }
    if (node.size() > bounds::limits_per_set_max) {
      reject(node, "rate_limits has " + std::to_string(node.size()) + " limits; at most " +
                       std::to_string(bounds::limits_per_set_max) + " are allowed");
    }
    for (const YAML::Node& element : node) {
      visit(element);
      limit_of(element, false, out);
    }
    for (std::size_t i = 0; i < out.limits.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (out.limits[i].window_ms == out.limits[j].window_ms) {
          throw Rejected{out.limits[i].position.text() +
                         ": two limits of one descriptor with the same window (" +
                         core::format_duration_ms(out.limits[i].window_ms) +
                         "): give each a window of its own"};
        }
      }
    }
  }

  std::vector<RlsDescriptorNode> descriptor_list(const YAML::Node& list,
                                                 const std::string& parent_path,
                                                 std::size_t depth) {
    std::vector<RlsDescriptorNode> out;
    if (list.IsNull()) return out;
    if (!list.IsSequence()) reject(list, "descriptors is a list of mappings (- key: NAME)");
    if (depth > bounds::envoy_config_depth_max) {
      reject(list, "descriptors nest deeper than " +
                       std::to_string(bounds::envoy_config_depth_max) +
                       " levels: no request descriptor has that many entries");
    }
    std::unordered_map<std::string, std::uint32_t> composites;
    for (const YAML::Node& element : list) {
      visit(element);
      RlsDescriptorNode node = descriptor(element, parent_path, depth);
      const std::string composite =
          node.path.substr(parent_path.empty() ? 0 : parent_path.size() + 1);
      const auto [previous, fresh] = composites.emplace(composite, node.position.line);
      if (!fresh) {
        throw Rejected{node.position.text() + ": duplicate descriptor composite key " +
                       in_quotes(domain_ + "." + node.path) + " (first at line " +
                       std::to_string(previous->second) + ")"};
      }
      out.push_back(std::move(node));
    }
    return out;
  }

  RlsDescriptorNode descriptor(const YAML::Node& node, const std::string& parent_path,
                               std::size_t depth) {
    if (!node.IsMap()) reject(node, "a descriptor is a mapping (key:, value:, rate_limit:, ...)");
    RlsDescriptorNode out;
    out.position = position(node.Mark());
    YAML::Node children;
    YAML::Node share_node;
    bool has_key = false;
    for_each_entry(
        node, [&](const std::string& key, const YAML::Node& name_node, const YAML::Node& value) {
          if (key == "key") {
            out.key = string_of(value, "key");
            has_key = true;
          } else if (key == "value") {
            out.value = string_of(value, "value");
          } else if (key == "rate_limit") {
            if (value.IsNull()) return;  // as envoyproxy/ratelimit: no limit
            if (out.has_limit) reject(name_node, "give rate_limit or rate_limits, not both");
            out.has_limit = true;
            limit_of(value, true, out);
          } else if (key == "rate_limits") {  // drl
            if (out.has_limit) reject(name_node, "give rate_limit or rate_limits, not both");
            out.has_limit = true;
            rate_limits_of(value, out);
          } else if (key == "descriptors") {
            children = value;
          } else if (key == "shadow_mode") {
            out.shadow_mode = bool_of(value, "shadow_mode");
          } else if (key == "detailed_metric" || key == "value_to_metric") {
            out.detailed_metric = bool_of(value, key) || out.detailed_metric;
          } else if (key == "share_threshold") {
            out.share_threshold = bool_of(value, "share_threshold");
            share_node = value;
          } else if (key == "quota_mode" && !bool_of(value, "quota_mode")) {
            // quota_mode: false is the default: nothing to refuse.
          } else {
            reject_key(name_node, key, "a descriptor",
                       "key, value, rate_limit, descriptors, shadow_mode, detailed_metric, "
                       "value_to_metric, share_threshold, rate_limits");
          }
        });
    if (!has_key || out.key.empty()) reject(node, "descriptor has empty key");
    for (const std::string* text : {&out.key, &out.value}) {
      if (text->size() > bounds::rls_entry_bytes_max) {
        reject(node, "a descriptor key or value has " + std::to_string(text->size()) +
                         " bytes; requests carry at most " +
                         std::to_string(bounds::rls_entry_bytes_max));
      }
    }
    // Value is optional: the composite key is "key" or "key_value", as envoyproxy/ratelimit
    // names it (and refuses two of the same at one level).
    const std::string composite = out.value.empty() ? out.key : out.key + "_" + out.value;
    out.path = parent_path.empty() ? composite : parent_path + "." + composite;
    if (!out.value.empty() && out.value.back() == '*') {
      out.wildcard = true;
      out.value.pop_back();
    }
    if (out.share_threshold && !out.wildcard) {
      reject(share_node,
             "share_threshold can only be used with wildcard values (ending with "
             "'*'), but found key " +
                 in_quotes(composite));
    }
    if (out.has_limit && !out.unlimited) {
      if (++limited_count_ > bounds::envoy_config_limits_max) {
        reject(node, "more than " + std::to_string(bounds::envoy_config_limits_max) +
                         " descriptors with a limit");
      }
    }
    out.descriptors = descriptor_list(children, out.path, depth + 1);
    return out;
  }

  std::string file_;
  RlsParseOptions options_;
  std::string domain_;
  YAML::Node descriptors_node_;
  std::size_t visited_ = 0;
  std::size_t limited_count_ = 0;
};

}  // namespace

std::string SourcePosition::text() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string_view rls_unit_name(RlsUnit unit) {
  switch (unit) {
    case RlsUnit::second:
      return "second";
    case RlsUnit::minute:
      return "minute";
    case RlsUnit::hour:
      return "hour";
    case RlsUnit::day:
      return "day";
    case RlsUnit::week:
      return "week";
    case RlsUnit::month:
      return "month";
    case RlsUnit::year:
      return "year";
    case RlsUnit::unknown:
      break;
  }
  return "unknown";
}

Result<std::uint64_t> rls_unit_window_ms(RlsUnit unit) {
  std::uint64_t window_ms = 0;
  switch (unit) {
    case RlsUnit::second:
      window_ms = second_ms;
      break;
    case RlsUnit::minute:
      window_ms = 60 * second_ms;
      break;
    case RlsUnit::hour:
      window_ms = 3600 * second_ms;
      break;
    case RlsUnit::day:
      window_ms = day_ms;
      break;
    case RlsUnit::week:
      window_ms = 7 * day_ms;
      break;
    case RlsUnit::month:
      window_ms = 30 * day_ms;  // as envoyproxy/ratelimit (without USE_CALENDAR_MONTH...)
      break;
    case RlsUnit::year:
      window_ms = 365 * day_ms;
      break;
    case RlsUnit::unknown:
      return Error{Errc::invalid_argument, "unit unknown: no window"};
  }
  static_assert(365 * day_ms <= bounds::window_ms_max, "a year is a drl window");
  return window_ms;
}

Result<RlsDomainConfig> parse_rls_file(std::string_view text, std::string_view file_name,
                                       const RlsParseOptions& options) {
  // Every string of a file may reach Envoy in an answer (a limit's name in current_limit), and
  // protobuf refuses a message whose string is not UTF-8: such a file is refused whole.
  if (const std::optional<std::size_t> bad = wire::first_invalid_utf8(text)) {
    SourcePosition where;
    where.file = std::string(file_name);
    const std::string_view before = text.substr(0, *bad);
    where.line = static_cast<std::uint32_t>(std::count(before.begin(), before.end(), '\n') + 1);
    const std::size_t line_start = before.rfind('\n');
    where.column = static_cast<std::uint32_t>(
        *bad - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1);
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[*bad]));
    return Error{Errc::malformed_request,
                 where.text() + ": byte " + byte + " is not UTF-8 (a YAML file is UTF-8 text)"};
  }
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return FileParser(file_name, options).parse(root);
  } catch (const Rejected& rejected) {
    return Error{Errc::malformed_request, rejected.message};
  } catch (const YAML::Exception& error) {
    SourcePosition where;
    where.file = std::string(file_name);
    if (!error.mark.is_null()) {
      where.line = static_cast<std::uint32_t>(error.mark.line + 1);
      where.column = static_cast<std::uint32_t>(error.mark.column + 1);
    }
    return Error{Errc::malformed_request, where.text() + ": " + error.msg};
  } catch (const std::exception& error) {
    return Error{Errc::malformed_request, std::string(file_name) + ": " + error.what()};
  }
}

Result<RlsConfig> parse_rls_files(std::span<const RlsFile> files, const RlsParseOptions& options) {
  if (files.size() > bounds::envoy_config_files_max) {
    return Error{Errc::too_large, std::to_string(files.size()) + " files; at most " +
                                      std::to_string(bounds::envoy_config_files_max)};
  }
  RlsConfig out;
  out.default_algorithm = options.default_algorithm;
  std::unordered_map<std::string, std::string> file_of_domain;
  std::size_t limited = 0;
  for (const RlsFile& file : files) {
    Result<RlsDomainConfig> parsed = parse_rls_file(file.text, file.name, options);
    if (!parsed.ok()) return parsed.error();
    RlsDomainConfig& domain = parsed.value();
    const auto [previous, fresh] = file_of_domain.emplace(domain.domain, file.name);
    if (!fresh) {
      return Error{Errc::malformed_request,
                   file.name + ": duplicate domain " + in_quotes(domain.domain) +
                       " in config file (also in " + previous->second + ")"};
    }
    limited += domain.limited_count;
    if (limited > bounds::envoy_config_limits_max) {
      return Error{Errc::too_large, file.name + ": more than " +
                                        std::to_string(bounds::envoy_config_limits_max) +
                                        " descriptors with a limit in all files together"};
    }
    out.domains.push_back(std::move(domain));
  }
  return out;
}

Result<RlsConfig> load_rls_directory(const std::string& directory, const RlsParseOptions& options) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::directory_iterator it(directory, error);
  if (error) {
    return Error{Errc::io_error, directory + ": cannot list: " + error.message()};
  }
  std::vector<std::string> names;
  for (; it != fs::directory_iterator(); it.increment(error)) {
    if (error) break;
    const std::string name = it->path().filename().string();
    const std::string extension = it->path().extension().string();
    if (name.empty() || name.front() == '.') continue;
    if (extension != ".yaml" && extension != ".yml") continue;
    std::error_code status_error;
    if (!fs::is_regular_file(it->path(), status_error)) continue;  // follows symlinks
    names.push_back(name);
    if (names.size() > bounds::envoy_config_files_max) {
      return Error{Errc::too_large, directory + ": more than " +
                                        std::to_string(bounds::envoy_config_files_max) +
                                        " YAML files"};
    }
  }
  if (error) return Error{Errc::io_error, directory + ": cannot list: " + error.message()};
  std::sort(names.begin(), names.end());
  std::vector<RlsFile> files;
  files.reserve(names.size());
  for (const std::string& name : names) {
    const std::string path = (fs::path(directory) / name).string();
    Result<std::string> text = config::read_config_text(path);
    if (!text.ok()) return text.error();
    files.push_back(RlsFile{path, std::move(text.value())});
  }
  return parse_rls_files(files, options);
}

}  // namespace drl::envoy
