// Fuzzes envoyproxy/ratelimit's YAML as drld reads a config_dir file: parse_rls_file (yaml-cpp
// behind it, whose exceptions must not escape), then, for a file that parses, RlsRules::build and
// decisions on the rules it makes: one request per descriptor of the file (its entries from the
// top, a made-up value where the file has none or a prefix), and one with all of them, each
// decided as rls_request decides (rls_invariants.hpp).
//
// Input: the text of one YAML file (tests/fuzz/corpus/rls_config: the README's examples and
// every feature). Invariants besides no crash, leak or exception: a rejected file has a message
// naming the file; a parsed one has a domain within the bound, nesting within the bound, a limit
// or unlimited where a rate_limit was given; the same domain in two files is refused; the rules
// build or are refused with a message; every decision on them satisfies rls_invariants.hpp.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_policies.hpp"
#include "fuzz_assert.hpp"
#include "rls_invariants.hpp"

namespace {

using namespace drl;
using namespace drl::envoy;

constexpr std::string_view kFileName = "fuzz.yaml";
constexpr std::size_t kRequestsMax = 32;  // per input: the decisions are the slow part

// Checks the parsed tree and appends one descriptor per node (its entries from the top).
void walk(const std::vector<RlsDescriptorNode>& nodes, std::size_t depth,
          std::vector<RlsEntry>& path, std::vector<RlsDescriptor>& out) {
  FUZZ_ASSERT(depth <= bounds::envoy_config_depth_max);
  for (const RlsDescriptorNode& node : nodes) {
    FUZZ_ASSERT(!node.key.empty());
    FUZZ_ASSERT(!node.share_threshold || node.wildcard);
    FUZZ_ASSERT(!node.unlimited || (node.has_limit && node.limits.empty()));
    if (node.has_limit && !node.unlimited) FUZZ_ASSERT(!node.limits.empty());
    for (const RlsLimitSpec& limit : node.limits) {
      FUZZ_ASSERT(bounds::window_ms_valid(limit.window_ms));
      FUZZ_ASSERT(limit.requests_per_unit <= bounds::limit_max);
    }
    std::string value = node.value;
    if (node.wildcard || node.value.empty()) value += "fuzz";
    path.push_back({node.key, value});
    if (out.size() < kRequestsMax) {
      RlsDescriptor descriptor;
      descriptor.entries = path;
      out.push_back(std::move(descriptor));
    }
    walk(node.descriptors, depth + 1, path, out);
    path.pop_back();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Result<RlsDomainConfig> parsed = parse_rls_file(text, kFileName);
  if (!parsed.ok()) {
    const std::string& message = parsed.error().message;
    FUZZ_ASSERT(message.size() > kFileName.size() && message.rfind(kFileName, 0) == 0);
    return 0;
  }
  const RlsDomainConfig& domain = parsed.value();
  FUZZ_ASSERT(!domain.domain.empty() && domain.domain.size() <= bounds::rls_domain_bytes_max);
  std::vector<RlsEntry> path;
  std::vector<RlsDescriptor> descriptors;
  walk(domain.descriptors, 1, path, descriptors);

  // The same domain in a second file is refused, naming both.
  const RlsFile twice[] = {{"a.yaml", text}, {"b.yaml", text}};
  const Result<RlsConfig> both = parse_rls_files(twice);
  FUZZ_ASSERT(!both.ok() && both.error().message.find("a.yaml") != std::string::npos &&
              both.error().message.find("b.yaml") != std::string::npos);

  const RlsFile one[] = {{std::string(kFileName), text}};
  Result<RlsConfig> config = parse_rls_files(one);
  FUZZ_ASSERT(config.ok() && config->domains.size() == 1);
  Result<std::shared_ptr<const RlsRules>> rules = RlsRules::build(std::move(config.value()));
  if (!rules.ok()) {
    FUZZ_ASSERT(!rules.error().message.empty());
    return 0;
  }
  if (descriptors.empty()) return 0;

  core::WallTime now{1'800'000'000'250};
  fuzz::RlsHarness harness(rules.value());
  RlsRequest all;
  all.domain = domain.domain;
  for (const RlsDescriptor& descriptor : descriptors) {
    RlsRequest request;
    request.domain = domain.domain;
    request.descriptors.push_back(descriptor);
    harness.decide(now, request);
    harness.decide(now, request);
    all.descriptors.push_back(descriptor);
  }
  harness.decide(now, all);
  now.unix_ms += 1500;
  harness.decide(now, all);
  return 0;
}
