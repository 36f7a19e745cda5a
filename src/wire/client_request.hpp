// A decoded client-protocol request. Strings are views into the frame they came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/check_engine.hpp"
#include "drl/error.hpp"

namespace drl::wire {

inline constexpr std::uint32_t client_protocol_version = 1;

enum class Op : std::uint8_t { check, batch, ping, reload, status, inspect };

// One check of a request: items[first, first + count) of Request::items, decided together.
struct CheckSpan {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
  bool detail = false;    // answer with every limit, not only the binding one
  Errc error = Errc::ok;  // this check is malformed; the others of a batch still count
  std::string error_message;
};

struct Request {
  std::uint64_t id = 0;
  Op op = Op::check;
  std::vector<core::CheckItem> items;
  std::vector<CheckSpan> checks;  // one for op check, one per element for op batch

  void clear() {
    id = 0;
    op = Op::check;
    items.clear();
    checks.clear();
  }
};

}  // namespace drl::wire
