// Running drl-bench ($DRL_BENCH, set by tests/integration/meson.build) from a test, and checking
// the JSON line it prints. Only the shape is checked (fields present, numbers above zero),
// never a timing.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace drl::integration {

std::string drl_bench_binary();

// Runs drl-bench with `args` plus --json; throws with its output unless it exits 0 and prints
// exactly one line that is a JSON object.
std::string run_bench_json(const std::vector<std::string>& args);

// The names among `fields` that are missing from the JSON line or not a number above 0.
std::vector<std::string> fields_not_positive(std::string_view json,
                                             const std::vector<std::string_view>& fields);

// The fields every load run reports with a positive value.
const std::vector<std::string_view>& load_run_fields();

}  // namespace drl::integration
