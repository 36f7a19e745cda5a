// Seeded randomness for the simulator. The generator (xoshiro256**) and every distribution are
// written here rather than taken from <random>, whose distributions may differ between standard
// libraries: the same seed must give the same run, byte for byte, everywhere.
#pragma once

#include <cmath>
#include <cstdint>

namespace drl::sim {

class Random {
 public:
  explicit Random(std::uint64_t seed) {
    // splitmix64 spreads any seed (0 included) over the state.
    for (std::uint64_t& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  // Uniform integer in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double probability) { return uniform() < probability; }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log1p(-uniform()); }

  // A generator for a sub-stream (a node, the network, the workload), so that adding draws in
  // one place does not shift the others.
  Random fork(std::uint64_t stream) { return Random(next() ^ (stream * 0xd1b54a32d192ed03ULL)); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4];
};

}  // namespace drl::sim
