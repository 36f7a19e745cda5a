// envoyproxy/ratelimit's YAML configuration, read as it is: one domain per file, a directory of
// files, nested descriptors, a key with or without a value, value prefixes ("foo*") with or
// without share_threshold, rate_limit (unit, requests_per_unit, unlimited, name, replaces),
// shadow_mode, detailed_metric. On top, drl's extensions, which such a file does not need:
// `algorithm:` and `window:` in a rate_limit, and `rate_limits:` (several limits on one
// descriptor). docs/integration.md#envoy has the whole mapping and every difference.
//
// Parsing is pure (text in, a validated config or one precise "file:line:column: message" out)
// and never throws, whatever the input: yaml-cpp's exceptions are caught here.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/algorithm.hpp"
#include "drl/result.hpp"
#include "envoy/rls_types.hpp"

namespace drl::envoy {

// Where something was written: for messages ("rules.yaml:12:5").
struct SourcePosition {
  std::string file;
  std::uint32_t line = 0;    // from 1; 0 when unknown
  std::uint32_t column = 0;  // from 1
  std::string text() const;
};

// One limit of a descriptor.
struct RlsLimitSpec {
  std::uint64_t requests_per_unit = 0;  // per window; 0: every request is over the limit
  std::uint64_t window_ms = 0;
  // What a DescriptorStatus reports as current_limit.unit: the unit written, or the unit equal to
  // a `window:`, else unknown (a window such as 5m is no Envoy unit).
  RlsUnit unit = RlsUnit::unknown;
  core::Algorithm algorithm = core::Algorithm::fixed;
  SourcePosition position;
};

struct RlsDescriptorNode {
  std::string key;
  std::string value;             // empty: any value, each counted on its own
  bool wildcard = false;         // value ended in '*': `value` holds the prefix, without the '*'
  bool share_threshold = false;  // wildcard only: every value it matches shares one count
  // `rate_limit:` or `rate_limits:` was given: a request descriptor that ends here is limited.
  bool has_limit = false;
  bool unlimited = false;  // always OK, never counted
  std::string name;        // rate_limit.name (what `replaces` refers to)
  std::vector<std::string> replaces;
  std::vector<RlsLimitSpec> limits;  // one (rate_limit) or several (rate_limits); none if unlimited
  bool shadow_mode = false;
  bool detailed_metric = false;  // detailed_metric or value_to_metric: statistics per value
  // The composite keys from the top ("key" or "key_value", '.' between levels) as
  // envoyproxy/ratelimit names its statistics; unique within the domain.
  std::string path;
  SourcePosition position;
  std::vector<RlsDescriptorNode> descriptors;
};

struct RlsDomainConfig {
  std::string domain;
  std::string file;
  std::vector<RlsDescriptorNode> descriptors;
  std::size_t limited_count = 0;  // nodes with has_limit and !unlimited, at any depth
};

struct RlsConfig {
  std::vector<RlsDomainConfig> domains;  // in file-name order
  // RlsParseOptions::default_algorithm, for what the files do not set: request limit overrides.
  core::Algorithm default_algorithm = core::Algorithm::fixed;
};

struct RlsParseOptions {
  // The algorithm of limits that do not name one (`algorithm:` is drl's). Fixed windows, as
  // envoyproxy/ratelimit counts, unless the daemon's operator chooses sliding for a directory.
  core::Algorithm default_algorithm = core::Algorithm::fixed;
};

struct RlsFile {
  std::string name;  // for messages
  std::string text;
};

// One file. Errors: "NAME:LINE:COLUMN: message" (or "NAME: message" without a position).
Result<RlsDomainConfig> parse_rls_file(std::string_view text, std::string_view file_name,
                                       const RlsParseOptions& options = {});

// Every file, then their union: a domain in two files is an error naming both (as
// envoyproxy/ratelimit without MERGE_DOMAIN_CONFIG), as is passing bounds::envoy_config_* .
Result<RlsConfig> parse_rls_files(std::span<const RlsFile> files,
                                  const RlsParseOptions& options = {});

// The files of `directory` named *.yaml or *.yml, not hidden, not in subdirectories, in name
// order, each at most bounds::config_file_bytes_max. An empty directory is an empty config.
Result<RlsConfig> load_rls_directory(const std::string& directory,
                                     const RlsParseOptions& options = {});

// A unit's window, the one place that knows them: second .. week as their length, month as 30
// days and year as 365 (as envoyproxy/ratelimit counts them; aligned to the Unix epoch, not the
// calendar). Unknown units are refused.
Result<std::uint64_t> rls_unit_window_ms(RlsUnit unit);

// "second", "minute", ... and "unknown".
std::string_view rls_unit_name(RlsUnit unit);

}  // namespace drl::envoy
