// The load signals a scenario's [[signal]] steps and ramps describe: what each node reports at
// a moment of true time. Piecewise linear, so that a run's signal is known exactly in advance.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/scenario.hpp"

namespace drl::sim {

class SignalSchedule {
 public:
  explicit SignalSchedule(const std::vector<SignalEvent>& events);

  // The value node `node` reports for `name` at `at_s`; nullopt before the first event for it
  // (the application has not reported anything yet).
  std::optional<double> value(std::string_view name, int node, double at_s) const;

  // Whether the schedule knows `name` (for any node).
  bool defines(std::string_view name) const;

  // The moments the signals start or end a change: where a report's phases begin.
  std::vector<double> boundaries_s() const;

 private:
  std::vector<SignalEvent> events_;  // by time, stable: later events override earlier ones
};

// The signal name a [[signal]] or [queue] feeds, for an adaptive law's `signal`: the law's own
// name ("loop_lag_ms"), or the name after "reported:".
std::string_view reported_name(std::string_view law_signal);

}  // namespace drl::sim
