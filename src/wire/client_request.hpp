// A decoded client-protocol request. Strings are views into the frame they came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/check_engine.hpp"
#include "core/override_table.hpp"
#include "drl/error.hpp"

namespace drl::wire {

inline constexpr std::uint32_t client_protocol_version = 1;

enum class Op : std::uint8_t {
  check,
  batch,
  ping,
  reload,
  status,
  inspect,
  override_set,
  override_list,
  override_clear,
  report,
  key_reset,
};

// The longest name of a reported load signal, and the bytes of its name it may use: names end
// up in metric labels and logs.
inline constexpr std::size_t signal_name_bytes_max = 64;

// Ops override_set, override_clear and key_reset. Copies, not views: an admin op, rare and
// small. A key_reset's scope names the check whose counters it resets (tier and endpoint as a
// check names them) and has counts_reset set.
struct OverrideRequest {
  core::OverrideScope scope;
  core::OverrideKind kind = core::OverrideKind::cleared;  // set: limit, factor or block
  std::uint64_t value = 0;                                // the limit, or permille
  std::int64_t ttl_ms = 0;
  std::string reason;
  bool all = false;  // clear: every active override (scope empty)
};

// Op report: the application's latest value of a load signal.
struct SignalReport {
  std::string_view name;
  double value = 0;
};

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
  std::vector<CheckSpan> checks;     // one for op check, one per element for op batch
  OverrideRequest override_request;  // ops override_set, override_clear, key_reset
  SignalReport report;               // op report

  void clear() {
    id = 0;
    op = Op::check;
    items.clear();
    checks.clear();
    override_request = OverrideRequest{};
    report = SignalReport{};
  }
};

}  // namespace drl::wire
