#include "sim/report.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "wire/json_writer.hpp"

namespace drl::sim {
namespace {

std::string fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

std::string summary_text(const RunResult& r) {
  std::string out;
  out += "scenario " + r.scenario + ", seed " + std::to_string(r.seed) + ": " +
         std::to_string(r.nodes) + " nodes, " + fixed(r.duration_s, 1) + " s simulated\n";
  out += "  checks " + std::to_string(r.checks) + ": admitted " + std::to_string(r.admitted) +
         ", exact limiter admitted " + std::to_string(r.exact_admitted) + "\n";
  const double checks = r.checks == 0 ? 1.0 : static_cast<double>(r.checks);
  out += "  false rejects " + std::to_string(r.false_rejects) + " (" +
         fixed(100.0 * static_cast<double>(r.false_rejects) / checks, 3) +
         "% of checks), false admits " + std::to_string(r.false_admits) + " (" +
         fixed(100.0 * static_cast<double>(r.false_admits) / checks, 3) + "%)\n";
  for (const LimitReport& limit : r.limits) {
    out += "  limit " + limit.label + ": overshoot max " + fixed(limit.overshoot_max_percent, 2) +
           "%, p99 " + fixed(limit.overshoot_p99_percent, 2) + "%, mean " +
           fixed(limit.overshoot_mean_percent, 3) + "% over " + std::to_string(limit.windows) +
           " saturated windows (" + std::to_string(limit.windows_over) +
           " over the limit); bound " + fixed(limit.bound_percent, 2) + "%\n";
    if (limit.violations > 0) {
      out += "    SAFETY VIOLATION in " + std::to_string(limit.violations) +
             " windows; first: " + limit.first_violation + "\n";
    }
  }
  for (const Convergence& c : r.convergence) {
    out += "  convergence after " + c.after + ": ";
    if (c.took_ms >= 0) {
      out += fixed(c.took_ms, 0) + " ms (bound " + fixed(c.bound_ms, 0) + " ms)";
    } else if (c.measured) {
      out += "NOT CONVERGED within " + fixed(c.bound_ms, 0) + " ms";
    } else {
      out += "not converged before the run ended (bound " + fixed(c.bound_ms, 0) + " ms)";
    }
    if (c.took_ms > c.bound_ms) out += "  LIVENESS VIOLATION";
    out += "\n";
  }
  out += "  gossip per node: " + fixed(r.datagrams_per_node_per_s, 1) + " datagrams/s, " +
         fixed(r.bytes_per_node_per_s / 1024.0, 2) + " KiB/s; network lost " +
         std::to_string(r.datagrams_lost) + ", cut " + std::to_string(r.datagrams_cut) +
         ", refused by nodes " + std::to_string(r.datagrams_dropped_by_nodes) +
         (r.datagrams_corrupted > 0 ? ", corrupted " + std::to_string(r.datagrams_corrupted) : "") +
         (r.datagrams_dropped_broken > 0
              ? ", datagrams dropped by broken nodes " + std::to_string(r.datagrams_dropped_broken)
              : "") +
         "\n";
  const RunResult::MessagesPerNode& m = r.messages_per_node_per_s;
  out += "  messages per node: heartbeats " + fixed(m.heartbeats, 1) + "/s, their answers " +
         fixed(m.acks, 1) + "/s, deltas " + fixed(m.deltas, 1) + "/s, owners' totals " +
         fixed(m.totals, 1) + "/s, repairs " + fixed(m.repairs, 1) + "/s\n";
  if (r.flood_checks > 0 || r.keys_evicted > 0) {
    out += "  key pressure: " + std::to_string(r.flood_checks) + " flood checks; stores evicted " +
           std::to_string(r.keys_evicted) + " keys, counted " + std::to_string(r.floors_applied) +
           " again from their floors, refused " + std::to_string(r.origin_slots_exhausted) +
           " updates for want of an origin slot\n";
  }
  if (r.checks_held > 0) {
    out += "  start-up holds: " + std::to_string(r.checks_held) +
           " checks waited for their node's first sync of counts, at most " +
           fixed(r.hold_max_ms, 1) + " ms\n";
  }
  if (r.rights_waits > 0) {
    out += "  rights waits: " + std::to_string(r.rights_waits) + " checks waited for a grant, " +
           std::to_string(r.rights_waits_admitted) + " admitted after it; waited " +
           fixed(r.rights_wait_ms_total / static_cast<double>(r.rights_waits), 2) +
           " ms on average, at most " + fixed(r.rights_wait_max_ms, 2) + " ms\n";
  }
  if (r.totals_waits > 0) {
    out += "  totals waits: " + std::to_string(r.totals_waits) +
           " keys' first checks waited for their owners' totals, " +
           std::to_string(r.totals_waits_answered) + " answered in time; waited " +
           fixed(r.totals_wait_ms_total / static_cast<double>(r.totals_waits), 2) +
           " ms on average, at most " + fixed(r.totals_wait_max_ms, 2) + " ms\n";
  }
  for (const OverrideReport& o : r.overrides) {
    out += "  override " + o.what + " at " + fixed(o.at_s, 3) + " s: ";
    if (!o.error.empty()) {
      out += "refused: " + o.error + "\n";
      continue;
    }
    out += o.in_force_ms >= 0 ? "in force on every node after " + fixed(o.in_force_ms, 1) + " ms"
                              : std::string("NOT in force on every node");
    out += " (bound " + fixed(o.bound_ms, 1) + " ms" + (o.measured ? "" : ", not held to it") + ")";
    if (o.ttl_s > 0) {
      out += o.expired_ms != -1
                 ? "; gone from every node " + fixed(o.expired_ms, 1) + " ms after its TTL"
                 : std::string("; not seen expiring");
    }
    out += "\n";
  }
  if (!r.phases.empty()) {
    // "Settled": over the phase's second half, once the controllers had time to follow.
    out += "  phases: offered and admitted per second (settled: in the second half)";
    for (const AdaptiveReport& a : r.adaptive)
      out += "; factor of " + a.policy + " (" + a.signal + ") in the second half";
    out += "\n";
  }
  for (const PhaseReport& phase : r.phases) {
    out += "    " + fixed(phase.start_s, 1) + "-" + fixed(phase.end_s, 1) + " s: offered " +
           fixed(phase.offered_per_s, 0) + "/s, admitted " + fixed(phase.admitted_per_s, 0) +
           "/s (settled " + fixed(phase.settled_admitted_per_s, 0) + "/s)";
    for (std::size_t p = 0; p < phase.settled_factor_min_permille.size(); ++p) {
      out += ", factor " + fixed(phase.settled_factor_min_permille[p] / 1000.0, 3);
      if (phase.settled_factor_max_permille[p] != phase.settled_factor_min_permille[p])
        out += ".." + fixed(phase.settled_factor_max_permille[p] / 1000.0, 3);
    }
    out += "\n";
  }
  out += "  largest clock offset measured between live nodes: " + fixed(r.max_clock_offset_ms, 0) +
         " ms\n";
  if (r.hard_windows > 0) {
    out += "  hard limits: " + std::to_string(r.hard_windows) +
           " (key, window) pairs admitted in, " + std::to_string(r.hard_violations) +
           " over the limit\n";
  }
  if (r.hard_violations > 0) {
    out += "  HARD LIMIT EXCEEDED in " + std::to_string(r.hard_violations) +
           " windows; first: " + r.first_hard_violation + "\n";
  }
  if (!r.counts_ok) {
    out += "  COUNT VIOLATION (" + std::to_string(r.count_violations) +
           "); first: " + r.first_count_violation + "\n";
  }
  out += std::string("  safety ") + (r.safety_ok ? "OK" : "FAILED") + ", liveness " +
         (r.liveness_ok ? "OK" : "FAILED") + ", counts " + (r.counts_ok ? "OK" : "FAILED") + "\n";
  return out;
}

std::string summary_json(const RunResult& r) {
  wire::JsonWriter json;
  json.begin_object()
      .key("scenario")
      .value(r.scenario)
      .key("seed")
      .value(r.seed)
      .key("nodes")
      .value(static_cast<std::int64_t>(r.nodes))
      .key("duration_s")
      .value(r.duration_s)
      .key("checks")
      .value(r.checks)
      .key("admitted")
      .value(r.admitted)
      .key("exact_admitted")
      .value(r.exact_admitted)
      .key("false_rejects")
      .value(r.false_rejects)
      .key("false_admits")
      .value(r.false_admits)
      .key("limits")
      .begin_array();
  for (const LimitReport& limit : r.limits) {
    json.begin_object()
        .key("label")
        .value(limit.label)
        .key("limit")
        .value(limit.limit)
        .key("window_ms")
        .value(limit.window_ms)
        .key("saturated_windows")
        .value(limit.windows)
        .key("windows_over_limit")
        .value(limit.windows_over)
        .key("overshoot_max_percent")
        .value(limit.overshoot_max_percent)
        .key("overshoot_p99_percent")
        .value(limit.overshoot_p99_percent)
        .key("overshoot_mean_percent")
        .value(limit.overshoot_mean_percent)
        .key("bound_percent")
        .value(limit.bound_percent)
        .key("violations")
        .value(limit.violations)
        .key("first_violation")
        .value(limit.first_violation)
        .end_object();
  }
  json.end_array().key("convergence").begin_array();
  for (const Convergence& c : r.convergence) {
    json.begin_object()
        .key("after")
        .value(c.after)
        .key("at_s")
        .value(c.at_s)
        .key("took_ms")
        .value(c.took_ms)
        .key("bound_ms")
        .value(c.bound_ms)
        .key("measured")
        .value(c.measured)
        .end_object();
  }
  json.end_array().key("overrides").begin_array();
  for (const OverrideReport& o : r.overrides) {
    json.begin_object()
        .key("what")
        .value(o.what)
        .key("at_s")
        .value(o.at_s)
        .key("ttl_s")
        .value(o.ttl_s)
        .key("in_force_ms")
        .value(o.in_force_ms)
        .key("bound_ms")
        .value(o.bound_ms)
        .key("measured")
        .value(o.measured)
        .key("expired_ms")
        .value(o.expired_ms)
        .key("error")
        .value(o.error)
        .end_object();
  }
  json.end_array().key("adaptive").begin_array();
  for (const AdaptiveReport& a : r.adaptive) {
    json.begin_object().key("policy").value(a.policy).key("signal").value(a.signal);
    json.key("samples").begin_array();
    for (const FactorSample& sample : a.samples) {
      json.begin_array()
          .value(sample.at_s)
          .value(static_cast<std::uint64_t>(sample.min_permille))
          .value(static_cast<std::uint64_t>(sample.max_permille))
          .value(sample.signal)
          .value(sample.smoothed)
          .end_array();
    }
    json.end_array().end_object();
  }
  json.end_array().key("phases").begin_array();
  for (const PhaseReport& phase : r.phases) {
    json.begin_object()
        .key("start_s")
        .value(phase.start_s)
        .key("end_s")
        .value(phase.end_s)
        .key("offered_per_s")
        .value(phase.offered_per_s)
        .key("admitted_per_s")
        .value(phase.admitted_per_s)
        .key("settled_admitted_per_s")
        .value(phase.settled_admitted_per_s)
        .key("settled_factor_min_permille")
        .begin_array();
    for (std::uint32_t f : phase.settled_factor_min_permille)
      json.value(static_cast<std::uint64_t>(f));
    json.end_array().key("settled_factor_max_permille").begin_array();
    for (std::uint32_t f : phase.settled_factor_max_permille)
      json.value(static_cast<std::uint64_t>(f));
    json.end_array().end_object();
  }
  json.end_array().key("admitted_per_second").begin_array();
  for (std::uint64_t admitted : r.admitted_per_second) json.value(admitted);
  json.end_array()
      .key("datagrams_per_node_per_s")
      .value(r.datagrams_per_node_per_s)
      .key("bytes_per_node_per_s")
      .value(r.bytes_per_node_per_s)
      .key("messages_per_node_per_s")
      .begin_object()
      .key("heartbeats")
      .value(r.messages_per_node_per_s.heartbeats)
      .key("acks")
      .value(r.messages_per_node_per_s.acks)
      .key("deltas")
      .value(r.messages_per_node_per_s.deltas)
      .key("totals")
      .value(r.messages_per_node_per_s.totals)
      .key("repairs")
      .value(r.messages_per_node_per_s.repairs)
      .end_object()
      .key("datagrams_lost")
      .value(r.datagrams_lost)
      .key("datagrams_cut")
      .value(r.datagrams_cut)
      .key("datagrams_refused_by_nodes")
      .value(r.datagrams_dropped_by_nodes)
      .key("max_clock_offset_ms")
      .value(r.max_clock_offset_ms)
      .key("updates_sent")
      .value(r.updates_sent)
      .key("hard_windows")
      .value(r.hard_windows)
      .key("hard_violations")
      .value(r.hard_violations)
      .key("safety_ok")
      .value(r.safety_ok)
      .key("liveness_ok")
      .value(r.liveness_ok)
      .key("counts_ok")
      .value(r.counts_ok)
      .key("count_violations")
      .value(r.count_violations)
      .key("datagrams_corrupted")
      .value(r.datagrams_corrupted)
      .key("keys_evicted")
      .value(r.keys_evicted)
      .key("checks_held")
      .value(r.checks_held)
      .key("hold_max_ms")
      .value(r.hold_max_ms)
      .key("rights_waits")
      .value(r.rights_waits)
      .key("rights_waits_admitted")
      .value(r.rights_waits_admitted)
      .key("rights_wait_ms_total")
      .value(r.rights_wait_ms_total)
      .key("rights_wait_max_ms")
      .value(r.rights_wait_max_ms)
      .key("totals_waits")
      .value(r.totals_waits)
      .key("totals_waits_answered")
      .value(r.totals_waits_answered)
      .key("totals_wait_ms_total")
      .value(r.totals_wait_ms_total)
      .key("totals_wait_max_ms")
      .value(r.totals_wait_max_ms)
      .end_object();
  return json.str();
}

std::string timeline_csv(const RunResult& r) {
  std::string out =
      "window_start_s,offered,admitted,exact_admitted,limit_total,focus_offered,"
      "focus_admitted,focus_exact_admitted,focus_limit";
  const std::size_t columns = std::min<std::size_t>(static_cast<std::size_t>(r.nodes), 32);
  for (std::size_t n = 0; n < columns; ++n) out += ",admitted_n" + std::to_string(n);
  out += "\n";
  for (const TimelineRow& row : r.timeline) {
    const std::uint64_t limit = row.limit;
    out += fixed(row.start_s, 3) + "," + std::to_string(row.offered) + "," +
           std::to_string(row.admitted) + "," + std::to_string(row.exact) + "," +
           std::to_string(row.limit_total) + "," + std::to_string(row.focus_offered) + "," +
           std::to_string(row.focus_admitted) + "," + std::to_string(row.focus_exact) + "," +
           std::to_string(limit);
    for (std::size_t n = 0; n < columns; ++n) {
      out += "," + std::to_string(n < row.admitted_by_node.size() ? row.admitted_by_node[n] : 0);
    }
    out += "\n";
  }
  return out;
}

std::string plot_timeline(const RunResult& r, const std::string& csv_path,
                          const std::string& png_path) {
  const std::string script_path = png_path + ".gp";
  {
    std::ofstream script(script_path);
    script << "set terminal pngcairo size 1200,500 noenhanced\n"
           << "set output '" << png_path << "'\n"
           << "set datafile separator ','\n"
           << "set key outside right\n"
           << "set grid\n"
           << "set xlabel 'time (s)'\n"
           << "set ylabel 'checks per window'\n"
           << "set title 'drl-sim " << r.scenario << " seed " << r.seed << ": key " << r.focus_key
           << ", " << (r.limits.empty() ? "" : r.limits.front().label) << "'\n"
           << "plot '" << csv_path
           << "' every ::1 using 1:6 with steps lw 1 lc rgb '#aaaaaa' title 'offered', \\\n"
           << "     '' every ::1 using 1:7 with steps lw 2 lc rgb '#d62728' title 'admitted "
              "(cluster)', \\\n"
           << "     '' every ::1 using 1:8 with steps lw 2 dt 2 lc rgb '#1f77b4' title 'admitted "
              "(exact)', \\\n"
           << "     '' every ::1 using 1:9 with lines lw 1 lc rgb '#000000' title 'limit'\n";
  }
  const std::string command = "gnuplot '" + script_path + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "cannot run gnuplot";
  std::string output;
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) output += buffer;
  const int status = ::pclose(pipe);
  if (status != 0) return "gnuplot failed (is gnuplot-nox installed?): " + output;
  return "";
}

}  // namespace drl::sim
