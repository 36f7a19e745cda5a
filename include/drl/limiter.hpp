// The limiter embedded in-process: the same policies, algorithms and answers as drld, without
// a daemon or a socket. Counts are local to the process.
//
// Thread-safe: check() may be called from any number of threads at once; checks on different
// keys do not wait on one lock. reload_*() may run concurrently with checks; counts survive it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "drl/decision.hpp"
#include "drl/result.hpp"

namespace drl {

class Limiter {
 public:
  // The same TOML as drld's config file; [node] is ignored, [bounds] max_keys and
  // store_shards size the counter store.
  static Result<Limiter> from_toml(std::string_view toml);
  static Result<Limiter> from_file(const std::string& path);

  Limiter(Limiter&& other) noexcept;
  Limiter& operator=(Limiter&& other) noexcept;
  ~Limiter();

  // At the current wall-clock time.
  Result<Decision> check(const CheckRequest& request, bool detail = false);
  Result<Decision> check_all(std::span<const CheckRequest> items, bool detail = false);
  // At an explicit time, in milliseconds since the Unix epoch (for tests and replays).
  Result<Decision> check_at(std::int64_t unix_ms, std::span<const CheckRequest> items,
                            bool detail = false);

  // Replaces the policies; on error the old ones stay in force.
  Result<Done> reload_toml(std::string_view toml);
  Result<Done> reload_file(const std::string& path);

  std::uint64_t tracked_keys() const;
  std::uint64_t evicted_keys() const;

 private:
  struct Impl;
  explicit Limiter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drl
