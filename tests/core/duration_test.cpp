#include <doctest/doctest.h>

#include "core/duration.hpp"

using drl::core::format_duration_ms;
using drl::core::format_span_ms;
using drl::core::parse_duration_ms;

TEST_CASE("duration: each unit parses to milliseconds") {
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("10s") == 10'000);
  CHECK(parse_duration_ms("1m") == 60'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  CHECK(parse_duration_ms("1d") == 86'400'000);
  CHECK(parse_duration_ms("1y") == 365 * 86'400'000ULL);  // envoyproxy/ratelimit's year
}

TEST_CASE("duration: sums of units parse, in any order") {
  CHECK(parse_duration_ms("1h30m") == 5'400'000);
  CHECK(parse_duration_ms("1s500ms") == 1'500);
  CHECK(parse_duration_ms("30m1h") == 5'400'000);
  CHECK(parse_duration_ms("0s") == 0);
}

TEST_CASE("duration: text that is not a duration is rejected") {
  for (const char* bad : {"", "10", "s", "10x", "1.5s", "-1s", " 1s", "1s ", "1 s", "1S", "ms",
                          "99999999999999999999s", "18446744073709551615d"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_duration_ms(bad).has_value());
  }
}

TEST_CASE("duration: formatting gives the shortest exact spelling and parses back") {
  CHECK(format_duration_ms(0) == "0ms");
  CHECK(format_duration_ms(60'000) == "1m");
  CHECK(format_duration_ms(1'500) == "1s500ms");
  CHECK(format_duration_ms(90'061'001) == "1d1h1m1s1ms");
  CHECK(format_duration_ms(365 * 86'400'000ULL) == "1y");
  CHECK(format_duration_ms(366 * 86'400'000ULL) == "1y1d");
  CHECK(format_duration_ms(364 * 86'400'000ULL) == "364d");
  for (std::uint64_t ms :
       {1ULL, 999ULL, 1000ULL, 61'000ULL, 86'400'000ULL, 2'678'400'000ULL, 31'622'400'000ULL}) {
    CHECK(parse_duration_ms(format_duration_ms(ms)) == ms);
  }
}

TEST_CASE("duration: a span for people is exact under a minute, to the second above") {
  CHECK(format_span_ms(13'212) == "13.212s");
  CHECK(format_span_ms(59'999) == "59.999s");
  CHECK(format_span_ms(1'792'603) == "29m53s");
  CHECK(format_span_ms(1'792'499) == "29m52s");
  CHECK(format_span_ms(60'000) == "1m");
}
