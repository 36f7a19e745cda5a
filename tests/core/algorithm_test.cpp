// The expected values in the tables are computed by hand from the definitions:
//   fixed:   estimate = current
//   sliding: estimate = previous * (W - elapsed) / W + current
// admitted iff estimate + cost <= limit; remaining = floor(limit - estimate after the check);
// reset_after = until the estimate is 0; retry_after = until this cost would be admitted.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "core/algorithm.hpp"

using namespace drl::core;

namespace {

struct Row {
  const char* name;
  std::uint64_t limit, window_ms, previous, current, elapsed_ms, lead_ms, cost;
  bool allowed;
  std::uint64_t remaining, reset_after_ms, retry_after_ms;
};

void check_rows(Algorithm algorithm, std::initializer_list<Row> rows) {
  for (const Row& row : rows) {
    const std::string name = row.name;
    CAPTURE(name);
    const LimitVerdict verdict = decide(LimitInput{algorithm,
                                                   row.limit,
                                                   row.window_ms,
                                                   {row.previous, row.current},
                                                   row.elapsed_ms,
                                                   row.lead_ms,
                                                   row.cost});
    CHECK(verdict.allowed == row.allowed);
    CHECK(verdict.remaining == row.remaining);
    CHECK(verdict.reset_after_ms == row.reset_after_ms);
    CHECK(verdict.retry_after_ms == row.retry_after_ms);
  }
}

}  // namespace

TEST_CASE("fixed window: decisions at window boundaries match hand-computed values") {
  // clang-format off
  check_rows(Algorithm::fixed, {
      // name                           L   W      p    c   e      lead cost  ok   rem reset  retry
      {"first request of a window",     10, 60000, 0,   0,  0,     0,   1,    true,  9, 60000, 0},
      {"last unit, last millisecond",   10, 60000, 0,   9,  59999, 0,   1,    true,  0, 1,     0},
      {"full, mid-window",              10, 60000, 0,   10, 30000, 0,   1,    false, 0, 30000, 30000},
      {"full, last millisecond",        10, 60000, 0,   10, 59999, 0,   1,    false, 0, 1,     1},
      {"cost fills exactly",            10, 60000, 0,   7,  100,   0,   3,    true,  0, 59900, 0},
      {"cost one too many",             10, 60000, 0,   7,  100,   0,   4,    false, 3, 59900, 59900},
      {"peek on an empty key",          10, 60000, 0,   0,  1234,  0,   0,    true,  10, 0,    0},
      {"peek on a full key",            10, 60000, 0,   10, 1234,  0,   0,    true,  0, 58766, 0},
      {"previous window is ignored",    10, 60000, 100, 0,  0,     0,   1,    true,  9, 60000, 0},
      {"counts ahead of our clock",     10, 60000, 0,   3,  0,     5,   1,    true,  6, 60005, 0},
      {"over the limit after a reload", 5,  1000,  0,   8,  250,   0,   1,    false, 0, 750,   750},
  });
  // clang-format on
}

TEST_CASE("sliding window: decisions at window boundaries match hand-computed values") {
  // clang-format off
  check_rows(Algorithm::sliding, {
      // name                              L   W      p   c   e     lead cost  ok   rem reset  retry
      {"first request ever",               10, 10000, 0,  0,  0,    0,   1,    true,  9, 20000, 0},
      // 10*10000 + 1*10000 > 10*10000; at e=1000: 10*9000/10000 + 1 = 10.
      {"previous full, window start",      10, 10000, 10, 0,  0,    0,   1,    false, 0, 10000, 1000},
      // 10*5000/10000 + 1 = 6 after the check.
      {"previous full, half way",          10, 10000, 10, 0,  5000, 0,   1,    true,  4, 15000, 0},
      // at e=2000: 5*8000/10000 + 5 + 1 = 10.
      {"half and half, window start",      10, 10000, 5,  5,  0,    0,   1,    false, 0, 20000, 2000},
      // current alone is full: wait 7000 to the next window, then until 10*(W-e)/W + 1 <= 10.
      {"current full",                     10, 10000, 0,  10, 3000, 0,   1,    false, 0, 17000, 8000},
      // 3*1/10000 + 8 = 8.0003 after the check.
      {"last millisecond of a window",     10, 10000, 3,  7,  9999, 0,   1,    true,  1, 10001, 0},
      // no time in this window works; next window's previous is 0.
      {"limit 1, previous 1",              1,  1000,  1,  0,  0,    0,   1,    false, 0, 1000,  1000},
      // the next window still weighs the 1 until its very end.
      {"limit 1, current 1",               1,  1000,  0,  1,  400,  0,   1,    false, 0, 1600,  1600},
      {"peek, partly used",                10, 10000, 4,  3,  2500, 0,   0,    true,  4, 17500, 0},
      {"peek, empty",                      10, 10000, 0,  0,  2500, 0,   0,    true,  10, 0,    0},
      {"counts ahead of our clock",        10, 1000,  0,  2,  0,    7,   1,    true,  7, 2007,  0},
      // (L-1)*W/(3L) = 892799999, so the earliest admitting elapsed is W - 892799999.
      {"largest limit and window",         4294967295, 2678400000, 12884901885, 0, 0, 0, 1,
                                           false, 0, 2678400000, 1785600001},
  });
  // clang-format on
}

namespace {

// The counts seen `delay_ms` after the input's moment, with no traffic in between.
LimitInput later(LimitInput input, std::uint64_t delay_ms) {
  std::uint64_t position = input.elapsed_ms + delay_ms;
  if (delay_ms <= input.lead_ms) {
    input.lead_ms -= delay_ms;
    return input;
  }
  position -= input.lead_ms;
  input.lead_ms = 0;
  if (position >= 2 * input.window_ms) {
    input.counts = {0, 0};
    input.elapsed_ms = position % input.window_ms;
  } else if (position >= input.window_ms) {
    input.counts = {input.counts.current, 0};
    input.elapsed_ms = position - input.window_ms;
  } else {
    input.elapsed_ms = position;
  }
  return input;
}

LimitInput random_input(std::mt19937_64& rng, Algorithm algorithm) {
  LimitInput in;
  in.algorithm = algorithm;
  in.limit = std::uniform_int_distribution<std::uint64_t>(1, 50)(rng);
  in.window_ms = std::uniform_int_distribution<std::uint64_t>(1, 2000)(rng);
  in.counts.previous = std::uniform_int_distribution<std::uint64_t>(0, in.limit + 5)(rng);
  in.counts.current = std::uniform_int_distribution<std::uint64_t>(0, in.limit + 5)(rng);
  in.elapsed_ms = std::uniform_int_distribution<std::uint64_t>(0, in.window_ms - 1)(rng);
  in.lead_ms = rng() % 4 == 0 ? std::uniform_int_distribution<std::uint64_t>(0, 50)(rng) : 0;
  in.cost = std::uniform_int_distribution<std::uint64_t>(0, in.limit)(rng);
  return in;
}

void check_exactness(Algorithm algorithm) {
  std::mt19937_64 rng(20261128);
  for (int trial = 0; trial < 20000; ++trial) {
    const LimitInput in = random_input(rng, algorithm);
    CAPTURE(trial);
    CAPTURE(in.limit);
    CAPTURE(in.window_ms);
    CAPTURE(in.counts.previous);
    CAPTURE(in.counts.current);
    CAPTURE(in.elapsed_ms);
    CAPTURE(in.lead_ms);
    CAPTURE(in.cost);
    const LimitVerdict verdict = decide(in);
    if (verdict.allowed) {
      REQUIRE(verdict.retry_after_ms == 0);
    } else {
      // Admitted exactly retry_after_ms later, and not one millisecond sooner.
      REQUIRE(verdict.retry_after_ms > 0);
      REQUIRE(decide(later(in, verdict.retry_after_ms)).allowed);
      REQUIRE_FALSE(decide(later(in, verdict.retry_after_ms - 1)).allowed);
    }
    // After the check (counted if allowed), the full limit is back exactly reset_after_ms later.
    LimitInput after = in;
    if (verdict.allowed) after.counts.current += in.cost;
    after.cost = 0;
    const LimitVerdict now = decide(after);
    REQUIRE(now.remaining == verdict.remaining);
    REQUIRE(decide(later(after, verdict.reset_after_ms)).remaining == in.limit);
    if (verdict.reset_after_ms > 0) {
      REQUIRE(decide(later(after, verdict.reset_after_ms - 1)).remaining < in.limit);
    }
    // remaining is the largest cost that would be admitted right now.
    if (verdict.remaining < in.limit) {
      LimitInput probe = after;
      probe.cost = verdict.remaining + 1;
      REQUIRE_FALSE(decide(probe).allowed);
    }
    if (verdict.remaining > 0) {
      LimitInput probe = after;
      probe.cost = verdict.remaining;
      REQUIRE(decide(probe).allowed);
    }
  }
}

}  // namespace

TEST_CASE("fixed window: retry_after, reset_after and remaining are exact on random inputs") {
  check_exactness(Algorithm::fixed);
}

TEST_CASE("sliding window: retry_after, reset_after and remaining are exact on random inputs") {
  check_exactness(Algorithm::sliding);
}

TEST_CASE("algorithm names round trip and unknown names are refused") {
  CHECK(algorithm_from_name("sliding") == Algorithm::sliding);
  CHECK(algorithm_from_name("fixed") == Algorithm::fixed);
  CHECK_FALSE(algorithm_from_name("token_bucket").has_value());
  CHECK(algorithm_name(Algorithm::fixed) == "fixed");
  CHECK(algorithm_name(Algorithm::sliding) == "sliding");
}
