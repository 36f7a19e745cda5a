// Always-on assertions for the invariants the code relies on: unlike assert(), they stay in
// release builds, so that the simulator's swarm, the fuzzers and production all check them on
// every event. A broken invariant is a bug: the process says which and where, then aborts
// (continuing would count wrongly, or write through a bad index).
#pragma once

namespace drl::core {

[[noreturn]] void assertion_failed(const char* condition, const char* what, const char* file,
                                   int line);

}  // namespace drl::core

// DRL_ASSERT(index < size, "a slot index inside the table"): `what` says the invariant in words.
#define DRL_ASSERT(condition, what)   \
  ((condition) ? static_cast<void>(0) \
               : ::drl::core::assertion_failed(#condition, (what), __FILE__, __LINE__))
