// A named value of a status answer (msgpack-free, so callers need not see msgpack).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace drl::wire {

struct StatusField {
  std::string name;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string> value;
};

using StatusFields = std::vector<StatusField>;

}  // namespace drl::wire
