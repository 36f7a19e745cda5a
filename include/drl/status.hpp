// What `status` and `inspect` answer, as plain values.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace drl {

struct StatusReport {
  // Scalar fields in the server's order, rendered as text.
  std::vector<std::pair<std::string, std::string>> fields;
  // Fields that are lists of records (e.g. "peers"), each record as (name, text) pairs.
  std::map<std::string, std::vector<std::vector<std::pair<std::string, std::string>>>> tables;
};

// One origin's counts of a counter: a node incarnation.
struct OriginSlots {
  std::string node_id;
  std::uint64_t incarnation = 0;
  std::uint64_t window_id = 0;  // the window of `current`; `previous` is the one before
  std::uint64_t previous = 0;
  std::uint64_t current = 0;
};

// One counter of a key: the cluster-wide estimate and what each origin contributed.
struct CounterState {
  std::string policy;
  std::string scope;
  std::string algorithm;
  std::uint64_t limit = 0;
  std::uint64_t window_ms = 0;
  std::uint64_t window_id = 0;  // the window that holds now
  std::uint64_t previous = 0;   // totals over all origins, as the algorithm reads them now
  std::uint64_t current = 0;
  // What key resets in force leave out of the origins' counts (previous, current = the
  // origins' sums less these; docs/dynamic-limits.md, per-key control).
  std::uint64_t forgotten_previous = 0;
  std::uint64_t forgotten_current = 0;
  std::uint64_t remaining = 0;
  std::uint64_t reset_after_ms = 0;
  std::vector<OriginSlots> origins;
};

}  // namespace drl
