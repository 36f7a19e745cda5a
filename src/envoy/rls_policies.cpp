#include "envoy/rls_policies.hpp"

#include <xxhash.h>

#include <charconv>
#include <cstdio>
#include <utility>

#include "core/counter_id.hpp"

namespace drl::envoy {
namespace {

// The units a request's limit override can name and drl can count.
constexpr RlsUnit override_units[] = {RlsUnit::second, RlsUnit::minute, RlsUnit::hour, RlsUnit::day,
                                      RlsUnit::week,   RlsUnit::month,  RlsUnit::year};

core::LimitRule rule_of(std::string_view policy, std::uint64_t limit, std::uint64_t window_ms,
                        core::Algorithm algorithm) {
  core::LimitRule rule;
  rule.limit = limit;
  rule.configured_limit = limit;
  rule.window_ms = window_ms;
  rule.algorithm = algorithm;
  rule.counter_seed = core::counter_seed(policy, "", window_ms);
  return rule;
}

class Builder {
 public:
  explicit Builder(const RlsConfig& config) : config_(config) {}

  // Pass 1: a policy for every limit. Returns an error message, or "".
  std::string collect() {
    for (const RlsDomainConfig& domain : config_.domains) {
      for (RlsUnit unit : override_units) {
        core::Policy policy;
        policy.name = rls_override_policy_name(domain.domain, unit);
        const Result<std::uint64_t> window = rls_unit_window_ms(unit);
        // Any request's limit fits under limit_max: the override is the check's limit.
        policy.defaults.rules.push_back(
            rule_of(policy.name, bounds::limit_max, window.value(), config_.default_algorithm));
        if (std::string error = add(std::move(policy), domain.file); !error.empty()) return error;
      }
      for (const RlsDescriptorNode& node : domain.descriptors) {
        if (std::string error = collect(domain, node); !error.empty()) return error;
      }
    }
    return {};
  }

  std::vector<core::Policy> take_policies() { return std::move(policies_); }

 private:
  std::string collect(const RlsDomainConfig& domain, const RlsDescriptorNode& node) {
    bool blocks = false;
    for (const RlsLimitSpec& limit : node.limits) blocks = blocks || limit.requests_per_unit == 0;
    if (node.has_limit && !node.unlimited && !blocks) {
      core::Policy policy;
      policy.name = rls_policy_name(domain.domain, node.path);
      policy.shadow = node.shadow_mode;
      for (const RlsLimitSpec& limit : node.limits) {
        policy.defaults.rules.push_back(
            rule_of(policy.name, limit.requests_per_unit, limit.window_ms, limit.algorithm));
      }
      if (std::string error = add(std::move(policy), node.position.text()); !error.empty()) {
        return error;
      }
    }
    for (const RlsDescriptorNode& child : node.descriptors) {
      if (std::string error = collect(domain, child); !error.empty()) return error;
    }
    return {};
  }

  std::string add(core::Policy policy, std::string where) {
    const auto [previous, fresh] = where_.emplace(policy.name, where);
    if (!fresh) {
      return where + ": its policy name '" + policy.name + "' is also that of " + previous->second +
             " (a domain with '/' in its name?): rename one";
    }
    policies_.push_back(std::move(policy));
    return {};
  }

  const RlsConfig& config_;
  std::vector<core::Policy> policies_;
  core::StringMap<std::string> where_;
};

// Pass 2: the lookup tables, with pointers into the built PolicySet.
void index_level(const std::string& domain, const std::vector<RlsDescriptorNode>& nodes,
                 const core::PolicySet& policies, RlsLevel& level) {
  level.nodes.resize(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const RlsDescriptorNode& config = nodes[i];
    RlsRuleNode& node = level.nodes[i];
    node.config = &config;
    for (const RlsLimitSpec& limit : config.limits) {
      if (limit.requests_per_unit == 0 && node.blocking == nullptr) node.blocking = &limit;
    }
    if (config.has_limit && !config.unlimited && node.blocking == nullptr) {
      node.policy = policies.find(rls_policy_name(domain, config.path));
    }
    if (!config.descriptors.empty()) {
      node.children = std::make_unique<RlsLevel>();
      index_level(domain, config.descriptors, policies, *node.children);
    }
    RlsLevel::ByKey& by_key = level.by_key[config.key];
    if (config.wildcard) {
      by_key.prefixes.push_back(i);
    } else if (config.value.empty()) {
      by_key.any_value = i;
    } else {
      by_key.exact.emplace(config.value, i);
    }
  }
}

void append_number(std::size_t number, std::string& out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, number).ptr;
  out.append(digits, end);
}

void append_delimited(std::string_view text, std::string& out) {
  append_number(text.size(), out);
  out.push_back(':');
  out.append(text);
}

}  // namespace

std::string rls_policy_name(std::string_view domain, std::string_view path) {
  std::string name = "envoy/";
  name.append(domain).push_back('/');
  name.append(path);
  return name;
}

std::string rls_override_policy_name(std::string_view domain, RlsUnit unit) {
  std::string name = "envoy/";
  name.append(domain).append("/override/").append(rls_unit_name(unit));
  return name;
}

Result<std::shared_ptr<const RlsRules>> RlsRules::build(RlsConfig config) {
  std::shared_ptr<RlsRules> rules(new RlsRules());
  rules->config_ = std::move(config);
  Builder builder(rules->config_);
  if (std::string error = builder.collect(); !error.empty()) {
    return Error{Errc::malformed_request, error};
  }
  rules->policies_ = std::make_shared<const core::PolicySet>(builder.take_policies());
  for (const RlsDomainConfig& config_domain : rules->config_.domains) {
    RlsDomain& domain = rules->domains_[config_domain.domain];
    domain.name = config_domain.domain;
    domain.file = config_domain.file;
    for (RlsUnit unit : override_units) {
      domain.override_policies[static_cast<std::size_t>(unit)] =
          rules->policies_->find(rls_override_policy_name(domain.name, unit));
    }
    index_level(domain.name, config_domain.descriptors, *rules->policies_, domain.top);
  }
  return std::shared_ptr<const RlsRules>(std::move(rules));
}

const RlsDomain* RlsRules::find_domain(std::string_view name) const {
  const auto it = domains_.find(name);
  return it == domains_.end() ? nullptr : &it->second;
}

RlsMatch RlsRules::match(const RlsDomain& domain, const RlsDescriptor& descriptor) const {
  RlsMatch out;
  const std::size_t count = descriptor.entries.size();
  const RlsLevel* level = &domain.top;
  for (std::size_t i = 0; i < count && i < out.path.size(); ++i) {
    const RlsEntry& entry = descriptor.entries[i];
    const auto by_key = level->by_key.find(entry.key);
    if (by_key == level->by_key.end()) break;
    const RlsLevel::ByKey& candidates = by_key->second;
    const RlsRuleNode* found = nullptr;
    if (const auto exact = candidates.exact.find(entry.value); exact != candidates.exact.end()) {
      found = &level->nodes[exact->second];
    }
    for (std::size_t p = 0; found == nullptr && p < candidates.prefixes.size(); ++p) {
      const RlsRuleNode& prefix = level->nodes[candidates.prefixes[p]];
      if (entry.value.starts_with(prefix.config->value)) {
        found = &prefix;
        if (prefix.config->share_threshold) out.shared_entries |= 1u << i;
      }
    }
    if (found == nullptr && candidates.any_value) found = &level->nodes[*candidates.any_value];
    if (found == nullptr) break;
    out.path[i] = found;
    // A limit applies only where the request descriptor ends; deeper or shallower: none.
    if (found->config->has_limit && i + 1 == count) out.node = found;
    if (found->children == nullptr) break;
    level = found->children.get();
  }
  return out;
}

void append_counter_key(const RlsDescriptor& descriptor, const RlsMatch& match, std::string& out) {
  const std::size_t start = out.size();
  if (descriptor.entries.empty()) {
    // Only a limit override can apply to a descriptor without entries (Envoy sends none; another
    // client may): as in envoyproxy/ratelimit, it counts on the domain alone. '-' starts no
    // delimited entry, so this key is no other descriptor's.
    out.push_back('-');
    return;
  }
  for (std::size_t i = 0; i < descriptor.entries.size(); ++i) {
    const RlsEntry& entry = descriptor.entries[i];
    append_delimited(entry.key, out);
    const bool shared = i < match.path.size() && (match.shared_entries >> i & 1u) != 0;
    if (shared) {
      // The pattern as written ("files/*"): every value it matches lands on this one key.
      append_number(match.path[i]->config->value.size() + 1, out);
      out.push_back(':');
      out.append(match.path[i]->config->value).push_back('*');
    } else {
      append_delimited(entry.value, out);
    }
  }
  if (out.size() - start > bounds::key_bytes_max) {
    const XXH128_hash_t digest = XXH3_128bits(out.data() + start, out.size() - start);
    char hex[48];
    std::snprintf(hex, sizeof hex, "#xxh128:%016llx%016llx",
                  static_cast<unsigned long long>(digest.high64),
                  static_cast<unsigned long long>(digest.low64));
    out.resize(start);
    out.append(hex);
  }
}

}  // namespace drl::envoy
