// Counters are identified by a 64-bit hash of (policy, scope, window, key), never by the key
// string: fixed size in memory and on the wire, and every node derives the same id.
//
// Collisions: with n live counters the chance that any two share an id is about n^2 / 2^65
// (2.7e-8 at a million counters, 2.7e-6 at ten million). A collision merges two callers' counts:
// the worst outcome is an early denial, never an admission above a limit.
#pragma once

#include <cstdint>
#include <string_view>

namespace drl::core {

// The per-rule seed. `scope` is empty for policy-wide limits, else the endpoint name. The
// limit and the algorithm are not part of it, so changing them keeps the counts.
std::uint64_t counter_seed(std::string_view policy, std::string_view scope,
                           std::uint64_t window_ms);

// Never 0 (0 marks an empty store slot).
std::uint64_t counter_id(std::uint64_t seed, std::string_view key);

}  // namespace drl::core
