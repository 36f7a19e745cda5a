// Memory per tracked key: the server's size before, every one of N keys checked once
// (sequential keys, closed loop), the size after. Bytes per key are the growth of the server's
// own figure (drld: store_memory_bytes; Redis: used_memory) and of its resident set, divided by
// the keys it gained (drld: keys_tracked, counters; Redis: DBSIZE).
#pragma once

#include <string>

#include "tools/bench/bench_options.hpp"
#include "tools/bench/server_admin.hpp"
#include "tools/bench/target_session.hpp"

namespace drl::bench {

struct FillReport {
  BenchOptions options;
  ServerSnapshot before;
  ServerSnapshot after;
  double seconds = 0;
  std::uint64_t checks_allowed = 0;
  std::uint64_t checks_denied = 0;
  std::uint64_t errors = 0;
};

FillReport fill_keys(const BenchOptions& options, const TargetSession& session);

std::string fill_report_json(const FillReport& report);
std::string fill_report_text(const FillReport& report);
// --report-memory: one snapshot.
std::string snapshot_json(const BenchOptions& options, const ServerSnapshot& snapshot);

}  // namespace drl::bench
