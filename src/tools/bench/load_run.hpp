// One run against one target: the connections are opened, dealt out to --threads load loops
// (each with its share of the open loop's rate and its own key stream), run together, and
// their results merged; meanwhile the main thread samples this process's and the server's CPU
// time at the start and the end of the measured interval.
#pragma once

#include <cstdint>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/run_report.hpp"
#include "tools/bench/target_session.hpp"

namespace drl::bench {

// `check_budget` > 0: send that many checks in all (rounded up to whole requests per thread)
// and wait for every answer, measuring from the first (no warm-up, no time limit); with the
// sequential distribution over `check_budget` keys, every key is checked once. 0: the timed
// run the options describe.
// Throws std::runtime_error when connecting fails or a load loop stopped on an error.
RunReport run_load(const BenchOptions& options, const TargetSession& session,
                   std::uint64_t check_budget = 0);

}  // namespace drl::bench
