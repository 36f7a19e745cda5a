// A named value of a status answer (msgpack-free, so callers need not see msgpack). A value is
// a scalar or a table: a list of records (one per peer, say).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace drl::wire {

using StatusScalar = std::variant<std::uint64_t, std::int64_t, double, bool, std::string>;
using StatusRecord = std::vector<std::pair<std::string, StatusScalar>>;

struct StatusField {
  std::string name;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, std::vector<StatusRecord>>
      value;
};

using StatusFields = std::vector<StatusField>;

}  // namespace drl::wire
