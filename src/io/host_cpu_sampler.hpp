// The host's CPU use, from /proc/stat: the busy share of all CPUs between two readings. A load
// signal of [policy.adaptive] (signal = "cpu_percent").
//
// Not thread-safe: one sampler per caller (drld: the main loop's 100 ms timer).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/time.hpp"

namespace drl::io {

class HostCpuSampler {
 public:
  // `interval_ms`: the least time between two readings of /proc/stat. The kernel counts in
  // ticks (usually 10 ms per CPU), so a shorter interval only adds noise.
  explicit HostCpuSampler(std::int64_t interval_ms = 500, std::string path = "/proc/stat")
      : interval_ns_(interval_ms * 1'000'000), path_(std::move(path)) {}

  // Percent busy (0..100) over the last interval; the previous value until `interval_ms` has
  // passed since the last reading. Nothing before the second reading, or when the file cannot
  // be read or parsed (a container without /proc, say).
  std::optional<double> sample(core::MonoTime now);

  // The sums of the "cpu" line of /proc/stat's text: busy and total ticks. False if absent.
  static bool parse(const std::string& text, std::uint64_t& busy, std::uint64_t& total);

 private:
  std::int64_t interval_ns_;
  std::string path_;
  bool read_once_ = false;
  core::MonoTime last_read_;
  std::uint64_t busy_ = 0;
  std::uint64_t total_ = 0;
  std::optional<double> percent_;
};

}  // namespace drl::io
