// Fuzzes the configuration parser (parse_config): TOML text in, a Config or a precise error out,
// never an exception, a crash or a leak. The text is parsed as drld reads it, and as the
// simulator reads a scenario (other top-level keys left to the caller, bind optional). A config
// that parses is used: every policy is checked once (with its tiers and endpoints), and it is
// compared with the defaults as a reload would (restart_only_changes).
//
// Input: the text of a file (config/*.toml, sim/scenarios/*.toml are the seeds).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "fuzz_assert.hpp"
#include "sim/scenario.hpp"

namespace {

using namespace drl;

void use(const config::Config& parsed, const config::Config& defaults) {
  FUZZ_ASSERT(parsed.policies != nullptr);
  const std::string changes = config::restart_only_changes(defaults, parsed);
  static_cast<void>(changes);
  core::CounterStore store(core::StoreOptions{64, 1, false});
  core::CheckEngine engine(store, 0);
  core::CheckOutcome outcome;
  const core::WallTime now{1'800'000'000'000};
  // Every policy with no tier and its tiers, policy-wide and at its endpoints (a few of each).
  for (const core::Policy& policy : parsed.policies->policies()) {
    std::vector<std::string_view> tiers = {"", "no-such-tier"};
    for (const auto& [name, defined] : policy.tier_names) {
      if (tiers.size() < 6) tiers.push_back(name);
    }
    std::vector<std::string_view> endpoints = {"", "GET /"};
    for (const auto& [name, limits] : policy.endpoints) {
      if (endpoints.size() < 6) endpoints.push_back(name);
    }
    for (std::string_view tier : tiers) {
      for (std::string_view endpoint : endpoints) {
        const core::CheckItem item{policy.name, "fuzz-key", tier, endpoint, 1};
        engine.check(*parsed.policies, now, std::span<const core::CheckItem>(&item, 1), outcome);
        FUZZ_ASSERT(outcome.error == Errc::ok || outcome.error == Errc::cost_above_limit ||
                    outcome.error == Errc::too_many_items);
        if (outcome.error == Errc::ok) {
          FUZZ_ASSERT(outcome.limit_count > 0 && outcome.binding < outcome.limit_count);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const config::Config defaults = [] {
    Result<config::Config> parsed = config::parse_config(
        "[[policy]]\nname = \"api\"\nlimit = 100\nwindow = \"1m\"\n", "defaults");
    FUZZ_ASSERT(parsed.ok());
    return parsed.value();
  }();
  static const config::ParseOptions as_scenario = sim::scenario_parse_options();
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const Result<config::Config> parsed = config::parse_config(text, "fuzz.toml");
  if (parsed.ok()) {
    use(parsed.value(), defaults);
  } else {
    FUZZ_ASSERT(!parsed.error().message.empty());
    FUZZ_ASSERT(parsed.error().code != Errc::internal);
  }
  const Result<config::Config> scenario = config::parse_config(text, "fuzz.toml", as_scenario);
  if (scenario.ok()) {
    use(scenario.value(), defaults);
  } else {
    FUZZ_ASSERT(!scenario.error().message.empty());
  }
  return 0;
}
