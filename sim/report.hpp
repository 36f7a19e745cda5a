// How a run is shown: a summary for people, JSON for programs, a CSV timeline, and a gnuplot
// picture of admitted against the limit over time.
#pragma once

#include <string>

#include "sim/simulation.hpp"

namespace drl::sim {

std::string summary_text(const RunResult& result);
std::string summary_json(const RunResult& result);
std::string timeline_csv(const RunResult& result);
// Writes `png_path` with gnuplot from `csv_path`; returns an error message, or "" on success.
std::string plot_timeline(const RunResult& result, const std::string& csv_path,
                          const std::string& png_path);

}  // namespace drl::sim
