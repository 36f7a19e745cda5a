#include "sim/scenario.hpp"

#include <toml++/toml.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/duration.hpp"
#include "core/limit_adjuster.hpp"
#include "sim/signal_schedule.hpp"

namespace drl::sim {
namespace {

struct Rejection {
  std::string message;
};

class ScenarioParser {
 public:
  explicit ScenarioParser(std::string_view source) : source_(source) {}

  [[noreturn]] void reject(const toml::node* where, const std::string& message) const {
    std::string out(source_);
    if (where != nullptr && where->source().begin) {
      out += ":" + std::to_string(where->source().begin.line) + ":" +
             std::to_string(where->source().begin.column);
    }
    throw Rejection{out + ": " + message};
  }

  void check_keys(const toml::table& table, const std::string& where,
                  std::initializer_list<std::string_view> allowed) const {
    for (auto&& [key, value] : table) {
      bool known = false;
      for (std::string_view name : allowed) known = known || key.str() == name;
      if (!known) reject(&value, "unknown key '" + std::string(key.str()) + "' in " + where);
    }
  }

  double number(const toml::table& table, std::string_view key, double fallback, double min,
                double max, const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    double value = 0;
    if (node->is_integer()) {
      value = static_cast<double>(*node->value<std::int64_t>());
    } else if (node->is_floating_point()) {
      value = *node->value<double>();
    } else {
      reject(node, where + ": " + std::string(key) + " must be a number");
    }
    if (!(value >= min && value <= max)) {
      reject(node, where + ": " + std::string(key) + " must be between " + std::to_string(min) +
                       " and " + std::to_string(max));
    }
    return value;
  }

  // A duration string ("30s", "250ms") in seconds.
  double seconds(const toml::table& table, std::string_view key, double fallback,
                 const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto text = node->value<std::string>();
    const auto ms = text && node->is_string() ? core::parse_duration_ms(*text) : std::nullopt;
    if (!ms) reject(node, where + ": " + std::string(key) + " must be a duration such as \"10s\"");
    return static_cast<double>(*ms) / 1000.0;
  }

  std::string text(const toml::table& table, std::string_view key, std::string fallback,
                   const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto value = node->value<std::string>();
    if (!node->is_string() || !value)
      reject(node, where + ": " + std::string(key) + " must be a string");
    return *value;
  }

  bool boolean(const toml::table& table, std::string_view key, bool fallback,
               const std::string& where) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean())
      reject(node, where + ": " + std::string(key) + " must be true or false");
    return *node->value<bool>();
  }

  std::vector<int> node_list(const toml::node* node, int nodes, const std::string& where) const {
    std::vector<int> out;
    const toml::array* list = node == nullptr ? nullptr : node->as_array();
    if (list == nullptr) reject(node, where + " must be an array of node indices");
    for (const toml::node& element : *list) {
      const auto index = element.value<std::int64_t>();
      if (!element.is_integer() || *index < 0 || *index >= nodes) {
        reject(&element, where + ": node indices go from 0 to " + std::to_string(nodes - 1));
      }
      out.push_back(static_cast<int>(*index));
    }
    return out;
  }

  const toml::table& table_of(const toml::node* node, const std::string& what) const {
    if (node == nullptr || !node->is_table()) reject(node, what + " must be a table");
    return *node->as_table();
  }

  void parse(const toml::table& root, Scenario& out) {
    out.name = text(root, "name", out.name, "scenario");
    if (const toml::node* seed = root.get("seed")) {
      if (!seed->is_integer() || *seed->value<std::int64_t>() < 0)
        reject(seed, "seed must be a non-negative integer");
      out.seed = static_cast<std::uint64_t>(*seed->value<std::int64_t>());
    }
    out.nodes = static_cast<int>(number(root, "nodes", out.nodes, 1, 5000, "scenario"));
    out.duration_s = seconds(root, "duration", out.duration_s, "scenario");
    if (out.duration_s <= 0) reject(root.get("duration"), "duration must be positive");
    out.authenticated =
        root.get("authenticated") != nullptr && root.get("authenticated")->value_or(false);
    out.max_keys = static_cast<std::uint64_t>(
        number(root, "max_keys", static_cast<double>(out.max_keys), 1, 1e8, "scenario"));
    out.convergence_sample_keys = static_cast<int>(
        number(root, "convergence_sample_keys", out.convergence_sample_keys, 1, 1e6, "scenario"));

    if (const toml::node* node = root.get("network")) {
      const toml::table& net = table_of(node, "[network]");
      check_keys(net, "[network]", {"latency_ms", "jitter_ms", "loss", "duplicate", "corrupt"});
      out.link.latency_ms = number(net, "latency_ms", out.link.latency_ms, 0, 60'000, "[network]");
      out.link.jitter_ms = number(net, "jitter_ms", out.link.jitter_ms, 0, 60'000, "[network]");
      out.link.loss = number(net, "loss", out.link.loss, 0, 1, "[network]");
      out.link.duplicate = number(net, "duplicate", out.link.duplicate, 0, 1, "[network]");
      out.link.corrupt = number(net, "corrupt", out.link.corrupt, 0, 1, "[network]");
    }
    if (const toml::node* node = root.get("partition")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "partition must be written [[partition]]");
      for (const toml::node& element : *list) {
        const toml::table& t = table_of(&element, "[[partition]]");
        check_keys(t, "[[partition]]", {"start", "end", "groups", "from", "to"});
        PartitionPhase phase;
        phase.start_s = seconds(t, "start", 0, "[[partition]]");
        phase.end_s = seconds(t, "end", out.duration_s, "[[partition]]");
        if (phase.end_s <= phase.start_s) reject(&t, "[[partition]]: end must be after start");
        if (const toml::node* groups = t.get("groups")) {
          const toml::array* g = groups->as_array();
          if (g == nullptr || g->size() < 2)
            reject(groups, "[[partition]]: groups must list at least two groups");
          for (const toml::node& group : *g)
            phase.groups.push_back(node_list(&group, out.nodes, "[[partition]] groups"));
        } else {
          phase.one_way = true;
          phase.from = node_list(t.get("from"), out.nodes, "[[partition]] from");
          phase.to = node_list(t.get("to"), out.nodes, "[[partition]] to");
        }
        out.partitions.push_back(std::move(phase));
      }
    }
    if (const toml::node* node = root.get("crash")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "crash must be written [[crash]]");
      for (const toml::node& element : *list) {
        const toml::table& t = table_of(&element, "[[crash]]");
        check_keys(t, "[[crash]]", {"node", "at", "restart_after", "leave"});
        CrashEvent crash;
        crash.node = static_cast<int>(number(t, "node", 0, 0, out.nodes - 1, "[[crash]]"));
        crash.at_s = seconds(t, "at", 0, "[[crash]]");
        crash.restart_after_s =
            t.contains("restart_after") ? seconds(t, "restart_after", 0, "[[crash]]") : -1;
        if (const toml::node* leave = t.get("leave")) {
          if (!leave->is_boolean()) reject(leave, "[[crash]] leave must be true or false");
          crash.leave = leave->value<bool>().value_or(false);
        }
        out.crashes.push_back(crash);
      }
    }
    if (const toml::node* node = root.get("broken_node")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "broken_node must be written [[broken_node]]");
      for (const toml::node& element : *list) {
        const toml::table& t = table_of(&element, "[[broken_node]]");
        check_keys(t, "[[broken_node]]", {"node", "kind"});
        BrokenNode broken;
        broken.node = static_cast<int>(number(t, "node", 0, 0, out.nodes - 1, "[[broken_node]]"));
        const std::optional<BrokenKind> kind =
            parse_broken_kind(text(t, "kind", "", "[[broken_node]]"));
        if (!kind) {
          reject(t.get("kind"),
                 "[[broken_node]]: kind must be \"drop_deltas\", \"double_count\", "
                 "\"no_repair\", \"hard_alone\" or \"hard_unagreed\"");
        }
        broken.kind = *kind;
        out.broken_nodes.push_back(broken);
      }
    }
    if (const toml::node* node = root.get("members")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "members must be written [[members]]");
      for (const toml::node& element : *list) {
        const toml::table& t = table_of(&element, "[[members]]");
        check_keys(t, "[[members]]", {"node", "from", "list"});
        NodeMembers members;
        members.node = static_cast<int>(number(t, "node", 0, 0, out.nodes - 1, "[[members]]"));
        members.from_s = seconds(t, "from", 0, "[[members]]");
        members.members = node_list(t.get("list"), out.nodes, "[[members]] list");
        out.members.push_back(std::move(members));
      }
    }
    if (const toml::node* node = root.get("clock")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "clock must be written [[clock]]");
      for (const toml::node& element : *list) {
        const toml::table& t = table_of(&element, "[[clock]]");
        check_keys(t, "[[clock]]", {"node", "offset_ms", "drift_ppm"});
        NodeClock clock;
        clock.node = static_cast<int>(number(t, "node", 0, 0, out.nodes - 1, "[[clock]]"));
        clock.offset_ms = number(t, "offset_ms", 0, -3.6e6, 3.6e6, "[[clock]]");
        clock.drift_ppm = number(t, "drift_ppm", 0, -1000, 1000, "[[clock]]");
        out.clocks.push_back(clock);
      }
    }
    if (const toml::node* node = root.get("workload")) {
      const toml::table& w = table_of(node, "[workload]");
      check_keys(w, "[workload]",
                 {"policy", "tier", "endpoint", "keys", "distribution", "zipf_exponent", "offered",
                  "spread", "sticky_share", "arrivals", "start", "stop", "burst", "attack_offered",
                  "flood_per_s"});
      Workload& work = out.workload;
      work.policy = text(w, "policy", work.policy, "[workload]");
      work.tier = text(w, "tier", work.tier, "[workload]");
      work.endpoint = text(w, "endpoint", work.endpoint, "[workload]");
      work.keys = static_cast<std::uint64_t>(
          number(w, "keys", static_cast<double>(work.keys), 1, 1e7, "[workload]"));
      work.distribution = text(w, "distribution", work.distribution, "[workload]");
      if (work.distribution != "uniform" && work.distribution != "zipf") {
        reject(w.get("distribution"), "[workload]: distribution must be \"uniform\" or \"zipf\"");
      }
      work.zipf_exponent = number(w, "zipf_exponent", work.zipf_exponent, 0, 5, "[workload]");
      work.offered = number(w, "offered", work.offered, 0, 1e6, "[workload]");
      work.spread = text(w, "spread", work.spread, "[workload]");
      if (work.spread != "round_robin" && work.spread != "random" && work.spread != "sticky") {
        reject(w.get("spread"),
               "[workload]: spread must be \"round_robin\", \"random\" or \"sticky\"");
      }
      work.sticky_share = number(w, "sticky_share", work.sticky_share, 0, 1, "[workload]");
      work.arrivals = text(w, "arrivals", work.arrivals, "[workload]");
      if (work.arrivals != "poisson" && work.arrivals != "even") {
        reject(w.get("arrivals"), "[workload]: arrivals must be \"poisson\" or \"even\"");
      }
      work.start_s = seconds(w, "start", work.start_s, "[workload]");
      work.stop_s = seconds(w, "stop", work.stop_s, "[workload]");
      work.attack_offered = number(w, "attack_offered", work.attack_offered, 0, 1e6, "[workload]");
      work.flood_per_s = number(w, "flood_per_s", work.flood_per_s, 0, 1e7, "[workload]");
      if (const toml::node* bursts = w.get("burst")) {
        const toml::array* list = bursts->as_array();
        if (list == nullptr) reject(bursts, "[workload]: burst must be written [[workload.burst]]");
        for (const toml::node& element : *list) {
          const toml::table& t = table_of(&element, "[[workload.burst]]");
          check_keys(t, "[[workload.burst]]", {"start", "end", "factor"});
          Burst burst;
          burst.start_s = seconds(t, "start", 0, "[[workload.burst]]");
          burst.end_s = seconds(t, "end", 0, "[[workload.burst]]");
          burst.factor = number(t, "factor", 1, 0, 1e6, "[[workload.burst]]");
          work.bursts.push_back(burst);
        }
      }
    }
    parse_overrides(root, out);
    parse_signals(root, out);
    if (out.workload.stop_s < 0 || out.workload.stop_s > out.duration_s) {
      out.workload.stop_s = out.duration_s;
    }
    if (const toml::node* node = root.get("check")) {
      const toml::table& c = table_of(node, "[check]");
      check_keys(c, "[check]", {"overshoot_max_percent", "converge_within", "override_within"});
      out.checks.overshoot_max_percent =
          number(c, "overshoot_max_percent", out.checks.overshoot_max_percent, 0, 1e6, "[check]");
      if (c.contains("converge_within")) {
        out.checks.converge_within_ms = seconds(c, "converge_within", 0, "[check]") * 1000.0;
      }
      if (c.contains("override_within")) {
        out.checks.override_within_ms = seconds(c, "override_within", 0, "[check]") * 1000.0;
      }
    }
  }

  // [[override]]: what `drl override set` / `clear` would send to one node.
  void parse_overrides(const toml::table& root, Scenario& out) const {
    const toml::node* node = root.get("override");
    if (node == nullptr) return;
    const toml::array* list = node->as_array();
    if (list == nullptr) reject(node, "override must be written [[override]]");
    for (const toml::node& element : *list) {
      const std::string where = "[[override]]";
      const toml::table& t = table_of(&element, where);
      check_keys(t, where,
                 {"at", "node", "action", "policy", "tier", "endpoint", "window", "key", "limit",
                  "factor", "block", "ttl", "reason"});
      OverrideEvent event;
      event.at_s = seconds(t, "at", 0, where);
      event.node = static_cast<int>(number(t, "node", 0, 0, out.nodes - 1, where));
      const std::string action = text(t, "action", "set", where);
      if (action != "set" && action != "clear" && action != "reset")
        reject(t.get("action"), where + ": action must be \"set\", \"clear\" or \"reset\"");
      event.clear = action == "clear";
      event.reset = action == "reset";
      event.scope.key = text(t, "key", "", where);
      if (event.reset && event.scope.key.empty()) reject(&t, where + ": a reset needs a key");
      event.scope.policy = text(t, "policy", "", where);
      if (event.scope.policy.empty()) reject(&t, where + ": policy is required");
      event.scope.tier = text(t, "tier", "", where);
      event.scope.endpoint = text(t, "endpoint", "", where);
      if (t.contains("window")) {
        event.scope.window_ms =
            static_cast<std::uint64_t>(std::llround(seconds(t, "window", 0, where) * 1000.0));
      }
      if (event.reset) {
        if (t.contains("limit") || t.contains("factor") || t.contains("block") ||
            t.contains("ttl") || t.contains("window")) {
          reject(&t, where + ": a reset takes no limit, factor, block, ttl or window");
        }
        event.scope.counts_reset = true;
        event.kind = core::OverrideKind::reset;
        event.reason = text(t, "reason", "", where);
      } else if (!event.clear) {
        const bool block = t.contains("block") && boolean(t, "block", false, where);
        if (t.contains("limit") + t.contains("factor") + (block ? 1 : 0) != 1)
          reject(&t, where + ": a set takes exactly one of limit, factor and block = true");
        if (block && event.scope.key.empty()) reject(&t, where + ": a block needs a key");
        if (block) {
          event.kind = core::OverrideKind::block;
        } else if (t.contains("limit")) {
          event.kind = core::OverrideKind::limit;
          event.value = static_cast<std::uint64_t>(number(t, "limit", 0, 1, 1e12, where));
        } else {
          event.kind = core::OverrideKind::factor;
          event.value = static_cast<std::uint64_t>(
              std::llround(number(t, "factor", 0, 0.001, 100, where) * 1000.0));
        }
        if (!t.contains("ttl")) reject(&t, where + ": a set needs a ttl");
        event.ttl_s = seconds(t, "ttl", 0, where);
        event.reason = text(t, "reason", "", where);
      } else if (t.contains("limit") || t.contains("factor") || t.contains("block") ||
                 t.contains("ttl")) {
        reject(&t, where + ": a clear takes no limit, factor, block or ttl");
      }
      out.overrides.push_back(std::move(event));
    }
  }

  // [[signal]] steps and ramps of reported load signals, and [queue], the closed loop.
  void parse_signals(const toml::table& root, Scenario& out) const {
    if (const toml::node* node = root.get("signal")) {
      const toml::array* list = node->as_array();
      if (list == nullptr) reject(node, "signal must be written [[signal]]");
      for (const toml::node& element : *list) {
        const std::string where = "[[signal]]";
        const toml::table& t = table_of(&element, where);
        check_keys(t, where, {"name", "node", "at", "ramp", "value"});
        SignalEvent event;
        event.name = text(t, "name", "", where);
        if (event.name.empty()) reject(&t, where + ": name is required");
        event.node = static_cast<int>(number(t, "node", -1, 0, out.nodes - 1, where));
        event.at_s = seconds(t, "at", 0, where);
        event.ramp_s = seconds(t, "ramp", 0, where);
        if (!t.contains("value")) reject(&t, where + ": value is required");
        event.value = number(t, "value", 0, -1e12, 1e12, where);
        out.signals.push_back(std::move(event));
      }
    }
    if (const toml::node* node = root.get("queue")) {
      const toml::table& t = table_of(node, "[queue]");
      check_keys(t, "[queue]", {"signal", "service_rate"});
      out.queue.signal = text(t, "signal", "", "[queue]");
      if (out.queue.signal.empty()) reject(node, "[queue]: signal is required");
      out.queue.service_rate = number(t, "service_rate", 0, 0, 1e9, "[queue]");
    }
  }

 private:
  std::string source_;
};

}  // namespace

std::vector<int> members_of(const Scenario& scenario, int node, double started_s) {
  const NodeMembers* latest = nullptr;
  for (const NodeMembers& entry : scenario.members) {
    if (entry.node == node && entry.from_s <= started_s &&
        (latest == nullptr || entry.from_s >= latest->from_s)) {
      latest = &entry;
    }
  }
  if (latest != nullptr) return latest->members;
  std::vector<int> all(static_cast<std::size_t>(scenario.nodes));
  for (int i = 0; i < scenario.nodes; ++i) all[static_cast<std::size_t>(i)] = i;
  return all;
}

std::string_view broken_kind_name(BrokenKind kind) {
  switch (kind) {
    case BrokenKind::drop_deltas:
      return "drop_deltas";
    case BrokenKind::double_count:
      return "double_count";
    case BrokenKind::no_repair:
      return "no_repair";
    case BrokenKind::hard_alone:
      return "hard_alone";
    case BrokenKind::hard_unagreed:
      return "hard_unagreed";
  }
  return "?";
}

std::optional<BrokenKind> parse_broken_kind(std::string_view name) {
  for (BrokenKind kind : {BrokenKind::drop_deltas, BrokenKind::double_count, BrokenKind::no_repair,
                          BrokenKind::hard_alone, BrokenKind::hard_unagreed}) {
    if (broken_kind_name(kind) == name) return kind;
  }
  return std::nullopt;
}

config::ParseOptions scenario_parse_options() {
  config::ParseOptions options;
  options.ignored_top_level_keys = {"name",     "seed",
                                    "nodes",    "duration",
                                    "network",  "partition",
                                    "crash",    "broken_node",
                                    "clock",    "workload",
                                    "check",    "authenticated",
                                    "max_keys", "convergence_sample_keys",
                                    "override", "signal",
                                    "queue",    "members"};
  options.cluster_bind_optional = true;
  return options;
}

Result<Scenario> parse_scenario(std::string_view text, std::string_view source_name) {
  // [[policy]] and [cluster] are drld's own: the real parser reads them, same rules and errors.
  const config::ParseOptions options = scenario_parse_options();
  Result<config::Config> config = config::parse_config(text, source_name, options);
  if (!config.ok()) return config.error();
  Scenario scenario;
  scenario.policies = config->policies;
  scenario.cluster = config->cluster;
  try {
    const toml::table root = toml::parse(text, source_name);
    ScenarioParser parser(source_name);
    parser.parse(root, scenario);
  } catch (const toml::parse_error& error) {
    std::ostringstream out;
    out << source_name << ":" << error.source().begin.line << ":" << error.source().begin.column
        << ": " << error.description();
    return Error{Errc::malformed_request, out.str()};
  } catch (const Rejection& rejection) {
    return Error{Errc::malformed_request, rejection.message};
  }
  const auto& policies = scenario.policies->policies();
  if (scenario.workload.policy.empty()) scenario.workload.policy = policies.front().name;
  if (scenario.policies->find(scenario.workload.policy) == nullptr) {
    return Error{Errc::malformed_request, std::string(source_name) + ": [workload] policy '" +
                                              scenario.workload.policy + "' is not defined"};
  }
  // The checks drl makes before sending an override: the scope must name limits that exist.
  for (const OverrideEvent& event : scenario.overrides) {
    if (event.reset) continue;  // a reset names a check, which any policy of the run accepts
    const std::string error = core::validate_override(
        *scenario.policies, event.scope, event.clear ? core::OverrideKind::factor : event.kind);
    if (!error.empty()) {
      char at[32];
      std::snprintf(at, sizeof at, "%g", event.at_s);
      return Error{Errc::malformed_request,
                   std::string(source_name) + ": [[override]] at " + at + " s: " + error};
    }
  }
  // A signal no adaptive law reads is a typo, not a scenario: say so rather than run without it.
  const auto read_by_a_law = [&](std::string_view name) {
    for (const core::Policy& policy : scenario.policies->policies()) {
      if (policy.adaptive_enabled && reported_name(policy.adaptive.signal) == name) return true;
    }
    return false;
  };
  for (const SignalEvent& event : scenario.signals) {
    if (!read_by_a_law(event.name)) {
      return Error{Errc::malformed_request, std::string(source_name) + ": [[signal]] '" +
                                                event.name +
                                                "' feeds no policy's [policy.adaptive] signal"};
    }
  }
  if (!scenario.queue.signal.empty() && !read_by_a_law(scenario.queue.signal)) {
    return Error{Errc::malformed_request, std::string(source_name) + ": [queue] signal '" +
                                              scenario.queue.signal +
                                              "' feeds no policy's [policy.adaptive] signal"};
  }
  return scenario;
}

std::string default_scenario_text() {
  return R"(name = "default"
nodes = 3
duration = "10s"

[cluster]
gossip_interval = "5ms"

[network]
latency_ms = 0.5
jitter_ms = 0.2

[workload]
keys = 10
offered = 3.0
spread = "round_robin"

[[policy]]
name = "api"
limit = 100
window = "1s"
algorithm = "fixed"
)";
}

}  // namespace drl::sim
