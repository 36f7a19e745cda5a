// The Envoy configuration in force: the YAML config, its lookup tables, and the core::PolicySet
// its limits count in. Immutable once built; shared by every thread (std::shared_ptr).
//
// Policies: one per descriptor entry with a limit, named "envoy/<domain>/<path>" (path: the
// composite keys from the top, "message_type_marketing.to_number"), which no TOML policy name
// can collide with (they have no '/'). A request descriptor counts on its policy under a key made
// of its entries, keys and values: a config entry without a value, or with a prefix ("foo*"),
// counts each value on its own, as envoyproxy/ratelimit does; with share_threshold, the prefix
// takes the place of the value, so that every value it matches shares one count. The counter
// seed comes from the policy name and the window only: a reload that keeps a descriptor where it
// was keeps its counts, whatever its new limit.
//
// Per-descriptor limit overrides (RateLimitDescriptor.limit) count on one policy per domain and
// unit, "envoy/<domain>/override/<unit>", under the same key: the request's limit is the check's
// (core::CheckItem::limit_override).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "core/policy.hpp"
#include "drl/result.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_types.hpp"

namespace drl::envoy {

struct RlsLevel;

// A descriptor entry of the config, ready to match and count.
struct RlsRuleNode {
  const RlsDescriptorNode* config = nullptr;
  // The policy that counts its limits; null when it has no limit, is unlimited, or blocks every
  // request (a requests_per_unit of 0, which no count can pass).
  const core::Policy* policy = nullptr;
  // The limit with requests_per_unit 0, if any: every request over (example 3's block list).
  const RlsLimitSpec* blocking = nullptr;
  std::unique_ptr<RlsLevel> children;  // null when it has no nested descriptors
};

// The descriptors at one level, indexed the way a request entry is looked up.
struct RlsLevel {
  struct ByKey {
    core::StringMap<std::size_t> exact;    // value -> node
    std::vector<std::size_t> prefixes;     // wildcard values, in file order (the first match wins)
    std::optional<std::size_t> any_value;  // the entry without a value
  };
  std::vector<RlsRuleNode> nodes;
  core::StringMap<ByKey> by_key;
};

struct RlsDomain {
  std::string name;
  std::string file;
  RlsLevel top;
  // By RlsUnit (wire value): the policy that counts a request's limit override of that unit;
  // null for a unit drl cannot count (unknown).
  std::array<const core::Policy*, 8> override_policies{};
};

// What one request descriptor matched.
struct RlsMatch {
  const RlsRuleNode* node = nullptr;  // null: no limit applies
  // Bit i: entry i was matched by a share_threshold prefix, whose pattern replaces its value in
  // the counter key.
  std::uint32_t shared_entries = 0;
  // The nodes matched, one per entry of the descriptor (when `node` is set).
  std::array<const RlsRuleNode*, bounds::rls_entries_per_descriptor_max> path{};
};

class RlsRules {
 public:
  // Override policies count with config.default_algorithm. Fails on a policy name that two
  // descriptors would share (a domain whose name contains '/' can make "envoy/a/b" + "c" and
  // "envoy/a" + "b/c" meet): the message names both.
  static Result<std::shared_ptr<const RlsRules>> build(RlsConfig config);

  const core::PolicySet& policies() const { return *policies_; }
  const RlsConfig& config() const { return config_; }
  const RlsDomain* find_domain(std::string_view name) const;

  // envoyproxy/ratelimit's matching: entry by entry from the top, each entry's most specific
  // descriptor (key and value, then the first prefix that matches, then the key alone), never
  // going back; the limit applies only if the request descriptor ends exactly where a
  // descriptor with a limit is (README examples 3 and 4). Precondition: at most
  // bounds::rls_entries_per_descriptor_max entries.
  RlsMatch match(const RlsDomain& domain, const RlsDescriptor& descriptor) const;

 private:
  RlsRules() = default;

  RlsConfig config_;
  std::shared_ptr<const core::PolicySet> policies_;
  core::StringMap<RlsDomain> domains_;
};

// The counter key of a matched descriptor: its entries, keys and values (shared entries carry
// their prefix pattern), unambiguously delimited; a key longer than bounds::key_bytes_max is
// replaced by a 128-bit digest of it; a descriptor without entries counts on the domain alone.
// Appends to `out`.
void append_counter_key(const RlsDescriptor& descriptor, const RlsMatch& match, std::string& out);

// The policy names (also used as IETF RateLimit item names).
std::string rls_policy_name(std::string_view domain, std::string_view path);
std::string rls_override_policy_name(std::string_view domain, RlsUnit unit);

}  // namespace drl::envoy
