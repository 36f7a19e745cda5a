// Instructions per check, counted by callgrind (repeatable, unlike times on a shared machine):
//   valgrind --tool=callgrind --instr-atstart=no build/tests/bench/check_cost
// scripts/check-cost.sh runs it and divides. Only the measured loop is instrumented.
#include <valgrind/callgrind.h>

#include <cstdio>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"

// `check_cost [sliding|fixed|hard]`: the policy's algorithm, or a hard limit (fixed windows,
// this node one of three members with rights enough for every check: the path of a check that
// does not wait for a grant). Default sliding.
int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "sliding";
  if (mode != "sliding" && mode != "fixed" && mode != "hard") {
    std::fprintf(stderr, "check_cost: sliding, fixed or hard, not %s\n", mode.c_str());
    return 2;
  }
  drl::core::CounterStore store(drl::core::StoreOptions{1'000'000, 64});
  drl::core::RightsLedger rights(drl::core::RightsSplit{3, 0, 0});
  drl::core::CheckEngine engine(store, 0);
  engine.set_rights(&rights);
  const std::string config =
      "[[policy]]\nname = \"api\"\nlimit = 1000000000\nwindow = \"1m\"\n" +
      (mode == "hard" ? std::string("enforcement = \"hard\"\n") : "algorithm = \"" + mode + "\"\n");
  const auto policies = drl::config::parse_config(config, "cost")->policies;
  std::vector<std::string> keys;
  for (int k = 0; k < 1000; ++k) keys.push_back("user-" + std::to_string(k));
  drl::core::CheckOutcome outcome;
  const drl::core::WallTime now{1'800'000'000'000};
  const auto check = [&](const std::string& key) {
    const drl::core::CheckItem item{"api", key, "", "", 1};
    engine.check(*policies, now, std::span(&item, 1), outcome);
  };
  for (const std::string& key : keys) check(key);  // every key in the store first
  constexpr int kChecks = 100'000;
  CALLGRIND_START_INSTRUMENTATION;
  for (int i = 0; i < kChecks; ++i) check(keys[static_cast<std::size_t>(i) % keys.size()]);
  CALLGRIND_STOP_INSTRUMENTATION;
  std::printf("checks %d allowed %d\n", kChecks, outcome.allowed ? 1 : 0);
  return 0;
}
