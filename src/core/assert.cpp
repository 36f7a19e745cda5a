#include "core/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace drl::core {

void assertion_failed(const char* condition, const char* what, const char* file, int line) {
  // stderr, unbuffered: the one write the core makes, on the way out.
  std::fprintf(stderr, "drl: invariant broken: %s (%s) at %s:%d\n", what, condition, file, line);
  std::abort();
}

}  // namespace drl::core
