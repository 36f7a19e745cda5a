// Origins of counts: a node incarnation, (node id, a number new at every start). The store
// keeps 32-bit origin indices; this table maps them to origins and back. Index 0 is this node's
// current incarnation.
//
// Bounded: at most max_origins. An origin not seen for retire_after is retired and its index
// reused; by then every count it made is in windows no algorithm needs (the caller picks
// retire_after above twice the longest window). Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/time.hpp"

namespace drl::core {

struct Origin {
  std::string node_id;
  std::uint64_t incarnation = 0;
  auto operator<=>(const Origin&) const = default;
};

class OriginTable {
 public:
  OriginTable(Origin local, std::size_t max_origins);

  static constexpr std::uint32_t local_index = 0;
  const Origin& local() const { return local_; }

  // The index of `origin`, added if new (reusing a retired index when full). nullopt when the
  // table is full of origins seen within retire_after: the caller drops the update, counted.
  std::optional<std::uint32_t> index_of(const Origin& origin, MonoTime now,
                                        std::int64_t retire_after_ms);

  // The index of `origin` if the table holds it; adds nothing, touches nothing.
  std::optional<std::uint32_t> find(const Origin& origin) const;

  // The origin at `index`, if any.
  std::optional<Origin> origin_at(std::uint32_t index) const;

  std::size_t size() const;
  // The most origins it holds (max_origins, at least 2).
  std::size_t capacity() const { return max_origins_; }
  std::uint64_t full_drops() const;

 private:
  struct Slot {
    Origin origin;
    MonoTime last_seen;
    bool used = false;
  };

  Origin local_;
  std::size_t max_origins_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  struct OriginHash {
    std::size_t operator()(const Origin& origin) const {
      return std::hash<std::string>{}(origin.node_id) ^
             (origin.incarnation * 0x9e3779b97f4a7c15ULL);
    }
  };
  std::unordered_map<Origin, std::uint32_t, OriginHash> by_origin_;
  std::uint64_t full_drops_ = 0;
};

}  // namespace drl::core
