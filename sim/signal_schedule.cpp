#include "sim/signal_schedule.hpp"

#include <algorithm>

namespace drl::sim {

SignalSchedule::SignalSchedule(const std::vector<SignalEvent>& events) : events_(events) {
  std::stable_sort(events_.begin(), events_.end(),
                   [](const SignalEvent& a, const SignalEvent& b) { return a.at_s < b.at_s; });
}

std::optional<double> SignalSchedule::value(std::string_view name, int node, double at_s) const {
  // The change in progress: from `from` at `start_s` to `to` over `ramp_s`. A new event starts
  // from wherever the signal was at its moment, even in the middle of an earlier ramp.
  struct Segment {
    double from = 0, to = 0, start_s = 0, ramp_s = 0;
    double at(double t) const {
      if (ramp_s <= 0 || t >= start_s + ramp_s) return to;
      return from + (to - from) * (t - start_s) / ramp_s;
    }
  };
  std::optional<Segment> segment;
  for (const SignalEvent& event : events_) {
    if (event.at_s > at_s) break;
    if (event.name != name || (event.node >= 0 && event.node != node)) continue;
    const double from = segment ? segment->at(event.at_s) : event.value;
    segment = Segment{from, event.value, event.at_s, event.ramp_s};
  }
  if (!segment) return std::nullopt;
  return segment->at(at_s);
}

bool SignalSchedule::defines(std::string_view name) const {
  return std::any_of(events_.begin(), events_.end(),
                     [&](const SignalEvent& event) { return event.name == name; });
}

std::vector<double> SignalSchedule::boundaries_s() const {
  std::vector<double> out;
  for (const SignalEvent& event : events_) {
    out.push_back(event.at_s);
    if (event.ramp_s > 0) out.push_back(event.at_s + event.ramp_s);
  }
  return out;
}

std::string_view reported_name(std::string_view law_signal) {
  constexpr std::string_view prefix = core::signal_reported_prefix;
  if (law_signal.substr(0, prefix.size()) == prefix) return law_signal.substr(prefix.size());
  return law_signal;
}

}  // namespace drl::sim
