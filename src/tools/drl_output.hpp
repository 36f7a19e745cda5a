// How drl shows drld's answers: aligned text for people, JSON for scripts. drld writes the JSON
// of status, inspect and override list itself; only a check's JSON is built here, from the
// decision the client library decoded.
#pragma once

#include <string>
#include <vector>

#include "drl/decision.hpp"
#include "drl/override.hpp"
#include "drl/status.hpp"

namespace drl::cli {

// One line per check.
std::string decision_text(const Decision& decision);
std::string decision_json(const Decision& decision);

// `drl status`: the fields in two columns, then each table under its name.
void print_status(const StatusReport& status);

// `drl inspect`: per counter, its limit and cluster-wide estimate, then every origin's slots.
void print_counters(const std::vector<CounterState>& counters);

// `drl override set`: the override stored, on one line.
std::string override_line(const OverrideInfo& info);
// What a key reset forgot: "forgot 37 of 100/1m, 12 of 10/1m at endpoint 'POST /login'".
std::string forgotten_text(const std::vector<ForgottenCount>& forgotten);

// `drl override list`: one row per override in force.
void print_overrides(const std::vector<OverrideInfo>& overrides);

}  // namespace drl::cli
