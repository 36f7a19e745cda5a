#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "envoy/rls_config.hpp"

using namespace drl::envoy;

namespace {

RlsDomainConfig parsed(const std::string& yaml, const RlsParseOptions& options = {}) {
  auto result = parse_rls_file(yaml, "rules.yaml", options);
  REQUIRE_MESSAGE(result.ok(), (result.ok() ? "" : result.error().message));
  return std::move(result.value());
}

// The error message for `yaml`, which must be rejected.
std::string rejection(const std::string& yaml) {
  const auto result = parse_rls_file(yaml, "rules.yaml");
  REQUIRE_FALSE(result.ok());
  return result.error().message;
}

}  // namespace

TEST_CASE("rls config: README example 2 reads as nested descriptors with a key without value") {
  const RlsDomainConfig config = parsed(R"(
domain: messaging
descriptors:
  # Only allow 5 marketing messages a day
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit:
          unit: day
          requests_per_unit: 5

  # Only allow 100 messages a day to any unique phone number
  - key: to_number
    rate_limit:
      unit: day
      requests_per_unit: 100
)");
  CHECK(config.domain == "messaging");
  REQUIRE(config.descriptors.size() == 2);
  const RlsDescriptorNode& marketing = config.descriptors[0];
  CHECK(marketing.key == "message_type");
  CHECK(marketing.value == "marketing");
  CHECK_FALSE(marketing.has_limit);
  REQUIRE(marketing.descriptors.size() == 1);
  const RlsDescriptorNode& nested = marketing.descriptors[0];
  CHECK(nested.path == "message_type_marketing.to_number");
  CHECK(nested.value.empty());
  REQUIRE(nested.limits.size() == 1);
  CHECK(nested.limits[0].requests_per_unit == 5);
  CHECK(nested.limits[0].unit == RlsUnit::day);
  CHECK(nested.limits[0].window_ms == 86'400'000);
  CHECK(nested.limits[0].algorithm == drl::core::Algorithm::fixed);
  CHECK(nested.position.text() == "rules.yaml:8:9");
  CHECK(config.descriptors[1].path == "to_number");
  CHECK(config.limited_count == 2);
}

TEST_CASE("rls config: units are case-insensitive; week is 7 days, month 30 days") {
  const RlsDomainConfig config = parsed(R"(
domain: d
descriptors:
  - {key: a, rate_limit: {unit: SECOND, requests_per_unit: 1}}
  - {key: b, rate_limit: {unit: Minute, requests_per_unit: 1}}
  - {key: c, rate_limit: {unit: hour, requests_per_unit: 1}}
  - {key: d, rate_limit: {unit: day, requests_per_unit: 1}}
  - {key: e, rate_limit: {unit: week, requests_per_unit: 1}}
  - {key: f, rate_limit: {unit: month, requests_per_unit: 1}}
)");
  const std::uint32_t expected[] = {1000,       60'000,      3'600'000,
                                    86'400'000, 604'800'000, 2'592'000'000U};
  for (std::size_t i = 0; i < 6; ++i)
    CHECK(config.descriptors[i].limits[0].window_ms == expected[i]);
  CHECK(config.descriptors[4].limits[0].unit == RlsUnit::week);
  CHECK(config.descriptors[5].limits[0].unit == RlsUnit::month);
}

TEST_CASE("rls config: a year is 365 days and a month 30, as envoyproxy/ratelimit counts them") {
  const drl::envoy::RlsDomainConfig config = parsed(
      "domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: year\n"
      "      requests_per_unit: 1\n");
  CHECK(config.descriptors[0].limits[0].window_ms == 365ULL * 86'400'000ULL);
  CHECK(config.descriptors[0].limits[0].unit == RlsUnit::year);
  CHECK(rls_unit_window_ms(RlsUnit::year).value() == 365ULL * 86'400'000ULL);
  CHECK_FALSE(rls_unit_window_ms(RlsUnit::unknown).ok());
  CHECK(rls_unit_window_ms(RlsUnit::month).value() == 30ULL * 86'400'000ULL);
}

TEST_CASE("rls config: wildcards, share_threshold, unlimited, name and replaces, shadow, detail") {
  const RlsDomainConfig config = parsed(R"(
domain: d
descriptors:
  - key: path
    value: files/*
    share_threshold: true
    rate_limit: {unit: hour, requests_per_unit: 100, name: files}
  - key: path
    value: "*"
    rate_limit: {unit: hour, requests_per_unit: 1000}
  - key: ldap
    rate_limit: {unlimited: true}
  - key: user
    shadow_mode: true
    detailed_metric: true
    rate_limit:
      unit: second
      requests_per_unit: 10
      replaces:
        - name: files
  - key: other
    value_to_metric: true
    quota_mode: false
)");
  const auto& files = config.descriptors[0];
  CHECK(files.wildcard);
  CHECK(files.value == "files/");
  CHECK(files.share_threshold);
  CHECK(files.name == "files");
  CHECK(files.path == "path_files/*");
  CHECK(config.descriptors[1].wildcard);
  CHECK(config.descriptors[1].value.empty());
  CHECK_FALSE(config.descriptors[1].share_threshold);
  CHECK(config.descriptors[2].unlimited);
  CHECK(config.descriptors[2].limits.empty());
  const auto& user = config.descriptors[3];
  CHECK(user.shadow_mode);
  CHECK(user.detailed_metric);
  CHECK(user.replaces == std::vector<std::string>{"files"});
  CHECK(config.descriptors[4].detailed_metric);
  CHECK(config.limited_count == 3);
}

TEST_CASE("rls config: drl's extensions: algorithm, window, several limits on one descriptor") {
  const RlsDomainConfig config = parsed(R"(
domain: d
descriptors:
  - key: a
    rate_limit: {unit: minute, requests_per_unit: 10, algorithm: sliding}
  - key: b
    rate_limit: {window: 5m, requests_per_unit: 50}
  - key: c
    rate_limit: {window: 1h, requests_per_unit: 50}
  - key: d
    rate_limits:
      - {unit: second, requests_per_unit: 10}
      - {window: 1d, requests_per_unit: 1000, algorithm: sliding}
)");
  CHECK(config.descriptors[0].limits[0].algorithm == drl::core::Algorithm::sliding);
  CHECK(config.descriptors[1].limits[0].window_ms == 300'000);
  CHECK(config.descriptors[1].limits[0].unit == RlsUnit::unknown);  // no Envoy unit is 5m
  CHECK(config.descriptors[2].limits[0].unit == RlsUnit::hour);
  const auto& several = config.descriptors[3];
  REQUIRE(several.limits.size() == 2);
  CHECK(several.limits[0].window_ms == 1000);
  CHECK(several.limits[0].algorithm == drl::core::Algorithm::fixed);
  CHECK(several.limits[1].window_ms == 86'400'000);
  CHECK(several.limits[1].unit == RlsUnit::day);
  CHECK(several.limits[1].algorithm == drl::core::Algorithm::sliding);
}

TEST_CASE("rls config: the default algorithm is fixed, and a parse option for the daemon") {
  const std::string yaml =
      "domain: d\ndescriptors:\n  - {key: a, rate_limit: {unit: second, "
      "requests_per_unit: 1}}\n  - {key: b, rate_limit: {unit: second, "
      "requests_per_unit: 1, algorithm: fixed}}\n";
  CHECK(parsed(yaml).descriptors[0].limits[0].algorithm == drl::core::Algorithm::fixed);
  RlsParseOptions sliding;
  sliding.default_algorithm = drl::core::Algorithm::sliding;
  const RlsDomainConfig config = parsed(yaml, sliding);
  CHECK(config.descriptors[0].limits[0].algorithm == drl::core::Algorithm::sliding);
  CHECK(config.descriptors[1].limits[0].algorithm == drl::core::Algorithm::fixed);
}

TEST_CASE("rls config: a limit of 0 and a rate_limit without requests_per_unit are accepted") {
  const RlsDomainConfig config = parsed(R"(
domain: edge_proxy_per_ip
descriptors:
  - key: remote_address
    value: 50.0.0.5
    rate_limit: {unit: second, requests_per_unit: 0}
  - key: blocked
    rate_limit: {unit: second}
)");
  CHECK(config.descriptors[0].value == "50.0.0.5");
  CHECK(config.descriptors[0].limits[0].requests_per_unit == 0);
  CHECK(config.descriptors[1].limits[0].requests_per_unit == 0);
}

TEST_CASE("rls config: scalars read as envoyproxy/ratelimit's YAML library reads them") {
  const RlsDomainConfig config = parsed(R"(
domain: 42
descriptors:
  - key: port
    value: 8080
    shadow_mode: yes
    rate_limit: {unit: second, requests_per_unit: 7}
  - key: empty_value
    value: ""
    descriptors:
)");
  CHECK(config.domain == "42");
  CHECK(config.descriptors[0].value == "8080");
  CHECK(config.descriptors[0].shadow_mode);
  CHECK(config.descriptors[1].value.empty());  // the same as no value
  CHECK(config.descriptors[1].descriptors.empty());
}

TEST_CASE("rls config: errors name the file, line and column, and what is wrong") {
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limt: {}\n") ==
        "rules.yaml:4:5: unknown key 'rate_limt' in a descriptor (allowed: key, value, "
        "rate_limit, descriptors, shadow_mode, detailed_metric, value_to_metric, "
        "share_threshold, rate_limits)");
  // envoyproxy/ratelimit ignores a known key in the wrong place; drl says where it belongs.
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n"
                  "      requests_per_unit: 1\n      shadow_mode: true\n") ==
        "rules.yaml:7:7: unknown key 'shadow_mode' in rate_limit (allowed: unit, "
        "requests_per_unit, unlimited, name, replaces, window, algorithm): shadow_mode belongs "
        "on the descriptor, beside rate_limit");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    unit: second\n")
            .ends_with(": unit belongs inside the descriptor's rate_limit"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: fortnight\n"
                  "      requests_per_unit: 1\n")
            .starts_with("rules.yaml:5:13: invalid rate limit unit 'fortnight'"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n"
                  "      requests_per_unit: 1\n")
            .starts_with("rules.yaml:5:7: invalid rate limit unit ''"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n"
                  "      requests_per_unit: -1\n") ==
        "rules.yaml:6:26: requests_per_unit is a whole number from 0 to 4294967295");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n"
                  "      requests_per_unit: 4294967296\n")
            .starts_with("rules.yaml:6:26: requests_per_unit is a whole number"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n"
                  "      requests_per_unit: \"5\"\n")
            .starts_with("rules.yaml:6:26: requests_per_unit is a whole number"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    shadow_mode: maybe\n") ==
        "rules.yaml:4:18: shadow_mode is true or false");
  CHECK(rejection("domain: d\ndescriptors:\n  - value: a\n") ==
        "rules.yaml:3:5: descriptor has empty key");
  CHECK(rejection("descriptors: []\n") ==
        "rules.yaml:1:1: no domain: a file names its domain (domain: NAME)");
  CHECK(rejection("") == "rules.yaml: the file is empty: it needs a domain (domain: NAME)");
  CHECK(rejection("domain: \"\"\n") == "rules.yaml:1:9: the domain is empty");
  CHECK(rejection("domain: d\ndomain: e\n") ==
        "rules.yaml:2:1: duplicate key 'domain' (first at line 1)");
  CHECK(rejection("domain: d\ndescriptors: {key: a}\n") ==
        "rules.yaml:2:14: descriptors is a list of mappings (- key: NAME)");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    value: [x]\n") ==
        "rules.yaml:4:12: value is a string, not a list or mapping");
}

TEST_CASE("rls config: YAML syntax errors carry yaml-cpp's line and column") {
  const std::string message = rejection("domain: d\ndescriptors:\n  - key: [a\n");
  CHECK(message.starts_with("rules.yaml:4:1: "));
}

TEST_CASE(
    "rls config: a file that is not UTF-8 is refused at its first bad byte, since a name "
    "Envoy cannot parse would break every answer that reports it") {
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      name: \"x\xff\"\n"
                  "      unit: second\n      requests_per_unit: 1\n") ==
        "rules.yaml:5:15: byte 0xff is not UTF-8 (a YAML file is UTF-8 text)");
  CHECK(rejection("domain: d\xed\xa0\x80\n").starts_with("rules.yaml:1:10: byte 0xed"));
  CHECK(parse_rls_file("domain: caf\xc3\xa9\ndescriptors:\n  - key: \"\xe2\x82\xac\"\n"
                       "    rate_limit:\n      unit: second\n      requests_per_unit: 1\n",
                       "rules.yaml")
            .ok());
}

TEST_CASE("rls config: what envoyproxy/ratelimit refuses, drl refuses") {
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    value: b\n  - key: a\n    value: b\n")
            .starts_with("rules.yaml:5:5: duplicate descriptor composite key 'd.a_b'"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    share_threshold: true\n") ==
        "rules.yaml:4:22: share_threshold can only be used with wildcard values (ending with "
        "'*'), but found key 'a'");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unlimited: true\n"
                  "      unit: second\n") ==
        "rules.yaml:6:13: should not specify a rate limit unit (or window) when unlimited");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      name: x\n"
                  "      unit: second\n      replaces: [{name: x}]\n")
            .starts_with("rules.yaml:5:7: replaces should not contain the name of the same"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit:\n      unit: second\n"
                  "      replaces: [{name: \"\"}]\n") ==
        "rules.yaml:6:18: should not have an empty replaces entry");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    descriptors: [1]\n") ==
        "rules.yaml:4:19: a descriptor is a mapping (key:, value:, rate_limit:, ...)");
}

TEST_CASE("rls config: quota_mode is refused with the reason; false is the default and fine") {
  const std::string message =
      rejection("domain: d\ndescriptors:\n  - key: a\n    quota_mode: true\n");
  CHECK(message.starts_with("rules.yaml:4:5: quota_mode is not supported: "));
  CHECK(message.find("dynamic metadata") != std::string::npos);
}

TEST_CASE("rls config: drl's extensions are checked too") {
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, "
                  "window: 5s, requests_per_unit: 1}\n")
            .starts_with("rules.yaml:4:40: give unit or window, not both"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {window: 367d, "
                  "requests_per_unit: 1}\n") ==
        "rules.yaml:4:26: window '367d' is outside 1ms .. 1y1d (above 31d, whole seconds)");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {window: soon, "
                  "requests_per_unit: 1}\n")
            .starts_with("rules.yaml:4:26: window 'soon' is not a duration"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second, "
                  "requests_per_unit: 1, algorithm: leaky}\n") ==
        "rules.yaml:4:65: algorithm 'leaky' is fixed or sliding");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limits:\n"
                  "      - {unit: second, requests_per_unit: 1}\n"
                  "      - {window: 1s, requests_per_unit: 5}\n")
            .starts_with("rules.yaml:6:9: two limits of one descriptor with the same window (1s)"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limits: []\n")
            .starts_with("rules.yaml:4:18: rate_limits is a list of limits"));
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limit: {unit: second}\n"
                  "    rate_limits: [{unit: minute}]\n") ==
        "rules.yaml:5:5: give rate_limit or rate_limits, not both");
  CHECK(rejection("domain: d\ndescriptors:\n  - key: a\n    rate_limits: [{unit: minute, "
                  "name: n}]\n")
            .starts_with("rules.yaml:4:34: unknown key 'name' in an element of rate_limits"));
}

TEST_CASE("rls config: a domain in two files is an error naming both, as upstream") {
  const std::vector<RlsFile> files = {{"a.yaml", "domain: d\n"}, {"b.yaml", "domain: d\n"}};
  const auto result = parse_rls_files(files);
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message == "b.yaml: duplicate domain 'd' in config file (also in a.yaml)");
  const std::vector<RlsFile> distinct = {{"a.yaml", "domain: d\n"}, {"b.yaml", "domain: e\n"}};
  const auto both = parse_rls_files(distinct);
  REQUIRE(both.ok());
  CHECK(both->domains.size() == 2);
}

TEST_CASE("rls config: bounds: nesting deeper than a request can be, and aliases that explode") {
  std::string deep = "domain: d\ndescriptors:\n";
  std::string indent = "  ";
  for (int level = 0; level < 17; ++level) {
    deep += indent + "- key: k" + std::to_string(level) + "\n" + indent + "  descriptors:\n";
    indent += "    ";
  }
  deep += indent + "- key: last\n";
  CHECK(rejection(deep).find("descriptors nest deeper than 16 levels") != std::string::npos);

  // Ten aliases of the level below at each level: 10^10 descriptors from a few lines.
  std::string laughs =
      "domain: d\ndescriptors:\n  - key: a0\n    descriptors: &l0\n"
      "      - key: x\n";
  for (int level = 1; level <= 10; ++level) {
    const std::string below = std::to_string(level - 1);
    laughs += "  - key: a" + std::to_string(level) + "\n    descriptors: &l" +
              std::to_string(level) + "\n";
    for (int i = 0; i < 10; ++i) {
      laughs += "      - {key: k" + std::to_string(i) + ", descriptors: *l" + below + "}\n";
    }
  }
  CHECK(rejection(laughs).find("the file expands to more than 500000 YAML nodes") !=
        std::string::npos);
  // An alias of an enclosing list: a cycle, cut by the depth bound.
  CHECK(rejection("domain: d\ndescriptors: &top\n  - key: a\n    descriptors: *top\n")
            .find("descriptors nest deeper than 16 levels") != std::string::npos);
}

TEST_CASE("rls config: mutated files are rejected or accepted, never a crash or an exception") {
  const std::string seed = R"(domain: messaging
descriptors:
  - key: message_type
    value: marketing
    descriptors:
      - key: to_number
        rate_limit: {unit: day, requests_per_unit: 5, name: n}
        shadow_mode: true
  - key: path
    value: files/*
    share_threshold: true
    rate_limits: [{window: 5m, requests_per_unit: 3}, {unit: hour, requests_per_unit: 9}]
  - key: ldap
    rate_limit: {unlimited: true, replaces: [{name: n}]}
)";
  REQUIRE(parse_rls_file(seed, "seed.yaml").ok());
  const std::string alphabet = " \n\t:-[]{},&*!|>'\"#%@`0123456789abcdefy*~";
  std::mt19937 random(16);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = random() % (text.size() + 1);
      switch (random() % 3) {
        case 0:
          text.insert(at, 1, alphabet[random() % alphabet.size()]);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1 + random() % 8);
          break;
        default:
          if (at < text.size()) text[at] = alphabet[random() % alphabet.size()];
      }
    }
    const auto result = parse_rls_file(text, "mutant.yaml");
    accepted += result.ok() ? 1 : 0;
    if (!result.ok()) CHECK(result.error().message.starts_with("mutant.yaml"));
  }
  CHECK(accepted > 0);
}

TEST_CASE("rls config: a directory: its *.yaml and *.yml files in name order, no hidden ones") {
  char pattern[] = "/tmp/drl-rls-config-XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const std::filesystem::path dir(pattern);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("b.yml", "domain: second\n");
  write("a.yaml", "domain: first\n");
  write(".hidden.yaml", "domain: hidden\n");
  write("notes.txt", "not yaml at all: [\n");
  std::filesystem::create_directory(dir / "sub.yaml");
  const auto loaded = load_rls_directory(dir.string());
  REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
  REQUIRE(loaded->domains.size() == 2);
  CHECK(loaded->domains[0].domain == "first");
  CHECK(loaded->domains[1].domain == "second");
  CHECK(loaded->domains[1].file == (dir / "b.yml").string());
  write("c.yaml", "domain: first\n");
  const auto twice = load_rls_directory(dir.string());
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message.find("duplicate domain 'first'") != std::string::npos);
  std::filesystem::remove_all(dir);
  CHECK_FALSE(load_rls_directory(dir.string()).ok());
}
