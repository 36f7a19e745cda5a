#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "config/config.hpp"
#include "core/counter_id.hpp"
#include "core/duration.hpp"

namespace drl::config {
namespace {

// Thrown inside the parser only, turned into an Error at its edge.
struct Rejection {
  std::string message;
};

class Parser {
 public:
  Parser(std::string_view source_name, const ParseOptions& options)
      : source_(source_name), options_(options) {}

  Config parse(const toml::table& root) {
    Config config;
    std::vector<std::string_view> known{"node", "bounds", "policy", "cluster", "http", "envoy"};
    for (const std::string& key : options_.ignored_top_level_keys) known.push_back(key);
    check_keys(root, "the top level", known);
    if (const toml::node* node = root.get("http"))
      parse_http(table_of(node, "[http]"), config.http);
    if (const toml::node* node = root.get("envoy"))
      parse_envoy(table_of(node, "[envoy]"), config.envoy);
    if (const toml::node* node = root.get("node"))
      parse_node(table_of(node, "[node]"), config.node);
    if (const toml::node* node = root.get("bounds")) {
      parse_bounds(table_of(node, "[bounds]"), config.bounds);
    }
    if (const toml::node* node = root.get("cluster")) {
      parse_cluster(table_of(node, "[cluster]"), config.cluster);
    }
    std::vector<core::Policy> policies;
    if (const toml::node* node = root.get("policy")) {
      const toml::array* list = node->as_array();
      if (list == nullptr || !list->is_array_of_tables()) {
        reject(node, "policy must be an array of tables: write [[policy]]");
      }
      if (list->size() > bounds::policies_max) {
        reject(node, "at most " + std::to_string(bounds::policies_max) + " policies");
      }
      std::set<std::string, std::less<>> names;
      for (const toml::node& element : *list) {
        core::Policy policy = parse_policy(*element.as_table());
        // Hard limits split their rights over the configured members (core/hard_rights.hpp): a
        // member found through a seed would hold rights no other node knows of.
        if (policy.enforcement == core::Enforcement::hard && config.cluster.enabled &&
            !config.cluster.seeds.empty()) {
          reject(element.as_table()->get("enforcement"),
                 "policy '" + policy.name +
                     "': enforcement = \"hard\" splits its limit over the members listed in "
                     "[cluster] peers; it does not work with [cluster] seeds");
        }
        if (!names.insert(policy.name).second) {
          reject(&element, "policy '" + policy.name + "' is defined twice");
        }
        policies.push_back(std::move(policy));
      }
    }
    // A node that only answers Envoy takes its limits from the YAML files.
    if (policies.empty() && !config.envoy.enabled) {
      reject(&root, "no policy: define at least one [[policy]] with a name, limit and window");
    }
    config.policies = std::make_shared<const core::PolicySet>(std::move(policies));
    return config;
  }

 private:
  [[noreturn]] void reject(const toml::node* where, const std::string& message) const {
    std::string out(source_);
    if (where != nullptr && where->source().begin) {
      out += ":" + std::to_string(where->source().begin.line) + ":" +
             std::to_string(where->source().begin.column);
    }
    out += ": " + message;
    throw Rejection{out};
  }

  const toml::table& table_of(const toml::node* node, const std::string& what) const {
    const toml::table* table = node->as_table();
    if (table == nullptr) reject(node, what + " must be a table");
    return *table;
  }

  void check_keys(const toml::table& table, const std::string& where,
                  std::initializer_list<std::string_view> allowed) const {
    check_keys(table, where, std::vector<std::string_view>(allowed));
  }

  void check_keys(const toml::table& table, const std::string& where,
                  const std::vector<std::string_view>& allowed) const {
    for (auto&& [key, value] : table) {
      bool known = false;
      for (std::string_view name : allowed) known = known || key.str() == name;
      if (!known) {
        std::string list;
        for (std::string_view name : allowed)
          list += (list.empty() ? "" : ", ") + std::string(name);
        reject(&value, "unknown key '" + std::string(key.str()) + "' in " + where +
                           " (known keys: " + list + ")");
      }
    }
  }

  std::string get_string(const toml::table& table, std::string_view key, const std::string& where,
                         std::string fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto value = node->value<std::string>();
    if (!node->is_string() || !value)
      reject(node, where + ": " + std::string(key) + " must be a string");
    return *value;
  }

  bool get_bool(const toml::table& table, std::string_view key, const std::string& where,
                bool fallback) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean())
      reject(node, where + ": " + std::string(key) + " must be true or false");
    return *node->value<bool>();
  }

  std::uint64_t get_uint(const toml::table& table, std::string_view key, const std::string& where,
                         std::uint64_t fallback, std::uint64_t min, std::uint64_t max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_integer()) reject(node, where + ": " + std::string(key) + " must be an integer");
    const std::int64_t value = *node->value<std::int64_t>();
    if (value < 0 || static_cast<std::uint64_t>(value) < min ||
        static_cast<std::uint64_t>(value) > max) {
      reject(node, where + ": " + std::string(key) + " must be between " + std::to_string(min) +
                       " and " + std::to_string(max) + ", not " + std::to_string(value));
    }
    return static_cast<std::uint64_t>(value);
  }

  static bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
  }

  void check_name(const toml::node* where, const std::string& what, std::string_view name,
                  std::size_t max_bytes) const {
    if (name.empty()) reject(where, what + " must not be empty");
    if (name.size() > max_bytes) {
      reject(where, what + " '" + std::string(name) + "' is longer than " +
                        std::to_string(max_bytes) + " bytes");
    }
    for (char c : name) {
      if (!is_name_char(c)) {
        reject(where,
               what + " '" + std::string(name) + "' may only use letters, digits and _ - . :");
      }
    }
  }

  void parse_node(const toml::table& table, NodeSettings& node) {
    const std::string where = "[node]";
    check_keys(table, where,
               {"id", "socket", "socket_mode", "socket_group", "socket_owner", "workers",
                "log_level", "watch_config", "state_dir", "state_save_interval"});
    node.id = get_string(table, "id", where, node.id);
    if (table.contains("id")) {
      check_name(table.get("id"), "node id", node.id, bounds::node_id_bytes_max);
    }
    node.socket_path = get_string(table, "socket", where, node.socket_path);
    if (node.socket_path.empty()) reject(table.get("socket"), "[node]: socket must not be empty");
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if (node.socket_path.size() > 107) {
      reject(table.get("socket"), "[node]: socket path is longer than 107 bytes");
    }
    if (const toml::node* mode = table.get("socket_mode")) {
      std::int64_t value = -1;
      if (mode->is_integer()) {
        value = *mode->value<std::int64_t>();
      } else if (mode->is_string()) {
        const std::string text = *mode->value<std::string>();
        char* end = nullptr;
        errno = 0;
        const long parsed = std::strtol(text.c_str(), &end, 8);
        if (!text.empty() && end != nullptr && *end == '\0' && errno == 0) value = parsed;
      }
      if (value < 0 || value > 0777) {
        reject(mode, "[node]: socket_mode must be an octal file mode such as \"0660\" or 0o660");
      }
      node.socket_mode = static_cast<std::uint32_t>(value);
    }
    node.socket_group = get_string(table, "socket_group", where, node.socket_group);
    node.socket_owner = get_string(table, "socket_owner", where, node.socket_owner);
    node.workers = get_uint(table, "workers", where, node.workers, 0, bounds::workers_max);
    node.log_level = get_string(table, "log_level", where, node.log_level);
    if (node.log_level != "debug" && node.log_level != "info" && node.log_level != "warn" &&
        node.log_level != "error") {
      reject(table.get("log_level"), "[node]: log_level must be debug, info, warn or error");
    }
    node.watch_config = get_bool(table, "watch_config", where, node.watch_config);
    node.state_dir = get_string(table, "state_dir", where, node.state_dir);
    // A path the state file's name still fits after (PATH_MAX is 4096 on Linux).
    if (node.state_dir.size() > 3072) {
      reject(table.get("state_dir"), "[node]: state_dir is longer than 3072 bytes");
    }
    // Relative to what? drld's working directory is neither the config file's nor stable
    // (systemd starts it in /).
    if (!node.state_dir.empty() && node.state_dir.front() != '/') {
      reject(table.get("state_dir"), "[node]: state_dir must be an absolute path");
    }
    node.state_save_interval_ms = get_duration(table, "state_save_interval", where,
                                               node.state_save_interval_ms, 100, 3'600'000);
  }

  void parse_bounds(const toml::table& table, Bounds& out) {
    const std::string where = "[bounds]";
    check_keys(
        table, where,
        {"max_keys", "store_shards", "max_connections", "max_request_bytes", "max_batch_checks",
         "max_pending_output_bytes", "idle_timeout", "frame_timeout", "stalled_output_timeout"});
    out.max_keys = get_uint(table, "max_keys", where, out.max_keys, bounds::store_keys_min,
                            bounds::store_keys_max);
    out.store_shards =
        get_uint(table, "store_shards", where, out.store_shards, 1, bounds::store_shards_max);
    if ((out.store_shards & (out.store_shards - 1)) != 0) {
      reject(table.get("store_shards"), "[bounds]: store_shards must be a power of two");
    }
    out.max_connections =
        get_uint(table, "max_connections", where, out.max_connections, 1, bounds::connections_max);
    out.max_request_bytes = get_uint(table, "max_request_bytes", where, out.max_request_bytes,
                                     bounds::frame_bytes_min, bounds::frame_bytes_max);
    out.max_batch_checks = get_uint(table, "max_batch_checks", where, out.max_batch_checks, 1,
                                    bounds::batch_checks_max);
    out.max_pending_output_bytes =
        get_uint(table, "max_pending_output_bytes", where, out.max_pending_output_bytes,
                 bounds::frame_bytes_min, std::uint64_t{1} << 32);
    // "0s" turns a timeout off.
    out.idle_timeout_ms =
        get_duration(table, "idle_timeout", where, out.idle_timeout_ms, 0, 7 * 86'400'000ULL);
    out.frame_timeout_ms =
        get_duration(table, "frame_timeout", where, out.frame_timeout_ms, 0, 3'600'000);
    out.stalled_output_timeout_ms = get_duration(table, "stalled_output_timeout", where,
                                                 out.stalled_output_timeout_ms, 0, 3'600'000);
  }

  std::uint64_t get_duration(const toml::table& table, std::string_view key,
                             const std::string& where, std::uint64_t fallback, std::uint64_t min_ms,
                             std::uint64_t max_ms) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) return fallback;
    const auto text = node->value<std::string>();
    const auto ms = text && node->is_string() ? core::parse_duration_ms(*text) : std::nullopt;
    if (!ms) {
      reject(node,
             where + ": " + std::string(key) + " must be a duration such as \"5ms\" or \"1s\"");
    }
    if (*ms < min_ms || *ms > max_ms) {
      reject(node, where + ": " + std::string(key) + " must be between " +
                       core::format_duration_ms(min_ms) + " and " +
                       core::format_duration_ms(max_ms) + ", not " + *text);
    }
    return *ms;
  }

  void check_address(const toml::node* where, const std::string& what,
                     const std::string& address) const {
    // host:port or [v6]:port, port 0..65535; resolution happens when the daemon starts.
    const std::size_t colon = address.rfind(':');
    bool valid = colon != std::string::npos && colon > 0 && colon + 1 < address.size() &&
                 address.size() <= 128;
    if (valid) {
      const std::string port = address.substr(colon + 1);
      valid = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
              std::stoul(port) <= 65535;
      const std::string host = address.substr(0, colon);
      if (host.find(':') != std::string::npos) {
        valid = valid && host.front() == '[' && host.back() == ']';
      }
    }
    if (!valid) reject(where, what + " '" + address + "' must be host:port (IPv6: [addr]:port)");
  }

  void parse_http(const toml::table& table, HttpSettings& out) {
    const std::string where = "[http]";
    check_keys(table, where,
               {"listen", "allow_remote", "threads", "max_connections", "problem_details",
                "request_timeout", "idle_timeout"});
    if (!table.contains("listen"))
      reject(&table, where + ": listen is missing (e.g. \"127.0.0.1:8080\")");
    out.enabled = true;
    out.listen = get_string(table, "listen", where, "");
    check_address(table.get("listen"), "[http]: listen", out.listen);
    out.allow_remote = get_bool(table, "allow_remote", where, out.allow_remote);
    require_loopback_unless_allowed(table, where, out.listen, out.allow_remote,
                                    "checks and /metrics have no authentication");
    out.threads = get_uint(table, "threads", where, out.threads, 1, bounds::workers_max);
    out.max_connections =
        get_uint(table, "max_connections", where, out.max_connections, 1, bounds::connections_max);
    out.problem_details = get_bool(table, "problem_details", where, out.problem_details);
    out.request_timeout_ms =
        get_duration(table, "request_timeout", where, out.request_timeout_ms, 100, 600'000);
    out.idle_timeout_ms =
        get_duration(table, "idle_timeout", where, out.idle_timeout_ms, 100, 86'400'000);
  }

  // A listen address off loopback is served only when the table says allow_remote = true.
  void require_loopback_unless_allowed(const toml::table& table, const std::string& where,
                                       const std::string& listen, bool allow_remote,
                                       std::string_view why) const {
    const std::string host = listen.substr(0, listen.rfind(':'));
    const bool loopback = host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
    if (!loopback && !allow_remote) {
      reject(table.get("listen"), where + ": listen '" + listen +
                                      "' is not a loopback address; set allow_remote = true to "
                                      "serve it (" +
                                      std::string(why) + ": see docs/security.md)");
    }
  }

  void parse_envoy(const toml::table& table, EnvoySettings& out) {
    const std::string where = "[envoy]";
    check_keys(
        table, where,
        {"listen", "allow_remote", "config_dir", "algorithm", "response_headers", "threads"});
    if (!table.contains("listen"))
      reject(&table, where + ": listen is missing (e.g. \"127.0.0.1:8081\")");
    if (!table.contains("config_dir")) {
      reject(&table, where +
                         ": config_dir is missing: the directory of envoyproxy/ratelimit YAML "
                         "files (e.g. \"/etc/drl/ratelimit\")");
    }
    out.enabled = true;
    out.listen = get_string(table, "listen", where, "");
    check_address(table.get("listen"), "[envoy]: listen", out.listen);
    out.allow_remote = get_bool(table, "allow_remote", where, out.allow_remote);
    require_loopback_unless_allowed(table, where, out.listen, out.allow_remote,
                                    "the rate limit service has no authentication");
    out.config_dir = get_string(table, "config_dir", where, "");
    if (out.config_dir.empty()) reject(table.get("config_dir"), where + ": config_dir is empty");
    if (const toml::node* node = table.get("algorithm")) {
      out.algorithm = parse_algorithm(node, where);
    }
    out.threads = get_uint(table, "threads", where, out.threads, 1, bounds::rls_server_threads_max);
    out.response_headers = get_string(table, "response_headers", where, out.response_headers);
    if (out.response_headers != "none" && out.response_headers != "ietf" &&
        out.response_headers != "x-ratelimit" && out.response_headers != "both") {
      reject(table.get("response_headers"),
             where +
                 ": response_headers must be \"none\", \"ietf\", \"x-ratelimit\" or "
                 "\"both\"");
    }
  }

  void parse_cluster(const toml::table& table, ClusterSettings& out) {
    const std::string where = "[cluster]";
    check_keys(table, where,
               {"bind",
                "advertise",
                "peers",
                "seeds",
                "seeds_resolve_interval",
                "gossip_interval",
                "heartbeat_interval",
                "suspect_after",
                "unreachable_after",
                "down_after",
                "forget_after",
                "repair_interval",
                "repair_updates_per_interval",
                "key_file",
                "previous_key_file",
                "allow_readable_key_file",
                "partition_policy",
                "dissemination",
                "datagram_bytes",
                "max_peers",
                "max_origins",
                "warmup_max",
                "totals_wait_max",
                "clock_skew_max"});
    out.enabled = true;
    if (!table.contains("bind") && !options_.cluster_bind_optional) {
      reject(&table,
             where + ": bind is missing (the UDP address of this node, e.g. \"0.0.0.0:7001\")");
    }
    out.bind = get_string(table, "bind", where, "");
    if (table.contains("bind")) check_address(table.get("bind"), "[cluster]: bind", out.bind);
    out.advertise = get_string(table, "advertise", where, "");
    if (!out.advertise.empty())
      check_address(table.get("advertise"), "[cluster]: advertise", out.advertise);
    if (const toml::node* node = table.get("peers")) {
      const toml::array* list = node->as_array();
      if (list == nullptr)
        reject(node, where + ": peers must be an array of \"host:port\" strings");
      for (const toml::node& element : *list) {
        const auto text = element.value<std::string>();
        if (!element.is_string() || !text) reject(&element, where + ": peers must be strings");
        check_address(&element, "[cluster]: peer", *text);
        out.peers.push_back(*text);
      }
    }
    if (const toml::node* node = table.get("seeds")) {
      const toml::array* list = node->as_array();
      if (list == nullptr)
        reject(node, where + ": seeds must be an array of \"host:port\" strings");
      if (list->size() > bounds::cluster_seeds_max) {
        reject(node, where + ": at most " + std::to_string(bounds::cluster_seeds_max) + " seeds");
      }
      for (const toml::node& element : *list) {
        const auto text = element.value<std::string>();
        if (!element.is_string() || !text) reject(&element, where + ": seeds must be strings");
        check_address(&element, "[cluster]: seed", *text);
        out.seeds.push_back(*text);
      }
    }
    out.seeds_resolve_interval_ms = get_duration(table, "seeds_resolve_interval", where,
                                                 out.seeds_resolve_interval_ms, 0, 86'400'000);
    if (out.seeds_resolve_interval_ms != 0 && out.seeds_resolve_interval_ms < 1000) {
      reject(table.get("seeds_resolve_interval"),
             where + ": seeds_resolve_interval must be 0 (at start only) or at least 1s");
    }
    out.gossip_interval_ms =
        get_duration(table, "gossip_interval", where, out.gossip_interval_ms, 1, 10'000);
    out.heartbeat_interval_ms =
        get_duration(table, "heartbeat_interval", where, out.heartbeat_interval_ms, 10, 60'000);
    out.suspect_after_ms =
        get_duration(table, "suspect_after", where, out.suspect_after_ms, 20, 3'600'000);
    out.down_after_ms = get_duration(table, "down_after", where, out.down_after_ms, 20, 3'600'000);
    out.forget_after_ms =
        get_duration(table, "forget_after", where, out.forget_after_ms, 1000, 7 * 86'400'000ULL);
    out.repair_interval_ms =
        get_duration(table, "repair_interval", where, out.repair_interval_ms, 1, 60'000);
    if (out.suspect_after_ms <= out.heartbeat_interval_ms) {
      reject(table.get("suspect_after"),
             where + ": suspect_after must be longer than heartbeat_interval");
    }
    out.unreachable_after_ms =
        get_duration(table, "unreachable_after", where, out.unreachable_after_ms, 1, 3'600'000);
    if (out.unreachable_after_ms != 0 && (out.unreachable_after_ms <= out.heartbeat_interval_ms ||
                                          out.unreachable_after_ms > out.suspect_after_ms)) {
      reject(table.get("unreachable_after"),
             where +
                 ": unreachable_after must be longer than heartbeat_interval and at most "
                 "suspect_after");
    }
    if (out.down_after_ms < out.suspect_after_ms) {
      reject(table.get("down_after"),
             where + ": down_after must not be shorter than suspect_after");
    }
    out.repair_updates_per_interval = get_uint(table, "repair_updates_per_interval", where,
                                               out.repair_updates_per_interval, 1, 1'000'000);
    out.warmup_max_ms = get_duration(table, "warmup_max", where, out.warmup_max_ms, 0, 60'000);
    out.totals_wait_max_ms = get_duration(table, "totals_wait_max", where, out.totals_wait_max_ms,
                                          0, bounds::totals_wait_max_ms);
    out.clock_skew_max_ms =
        get_duration(table, "clock_skew_max", where, out.clock_skew_max_ms, 0, 3'600'000);
    out.key_file = get_string(table, "key_file", where, "");
    out.previous_key_file = get_string(table, "previous_key_file", where, "");
    if (!out.previous_key_file.empty() && out.key_file.empty()) {
      reject(table.get("previous_key_file"), where + ": previous_key_file needs key_file");
    }
    out.allow_readable_key_file =
        get_bool(table, "allow_readable_key_file", where, out.allow_readable_key_file);
    const std::string dissemination = get_string(
        table, "dissemination", where, std::string(core::dissemination_name(out.dissemination)));
    if (const auto parsed = core::parse_dissemination(dissemination)) {
      out.dissemination = *parsed;
    } else {
      reject(table.get("dissemination"),
             where + ": dissemination must be \"auto\", \"mesh\" or \"owners\"");
    }
    const std::string partition_policy =
        get_string(table, "partition_policy", where,
                   std::string(core::partition_policy_name(out.partition_policy)));
    if (const auto parsed = core::parse_partition_policy(partition_policy)) {
      out.partition_policy = *parsed;
    } else {
      reject(table.get("partition_policy"),
             where + ": partition_policy must be \"optimistic\" or \"proportional\"");
    }
    out.datagram_bytes = get_uint(table, "datagram_bytes", where, out.datagram_bytes,
                                  bounds::datagram_bytes_min, bounds::datagram_bytes_max);
    out.max_peers = get_uint(table, "max_peers", where, out.max_peers, 1, 100'000);
    out.max_origins = get_uint(table, "max_origins", where, out.max_origins, 16, 1'000'000);
  }

  core::LimitRule parse_rule(const toml::table& table, const std::string& where,
                             const core::Policy& policy, std::string_view scope,
                             core::Algorithm default_algorithm,
                             std::optional<std::uint64_t> inherited_window) {
    core::LimitRule rule;
    if (!table.contains("limit")) reject(&table, where + ": limit is missing");
    rule.limit = get_uint(table, "limit", where, 0, 1, bounds::limit_max);
    if (const toml::node* node = table.get("window")) {
      const auto text = node->value<std::string>();
      if (!node->is_string() || !text) {
        reject(node, where + ": window must be a string such as \"1m\"");
      }
      const auto ms = core::parse_duration_ms(*text);
      if (!ms) {
        reject(node, where + ": window '" + *text +
                         "' is not a duration (examples: 250ms, 10s, 1m, 1h, 1d, 1h30m)");
      }
      if (*ms < bounds::window_ms_min || *ms > bounds::window_ms_max) {
        reject(node, where + ": window must be between 1ms and 366d, not " + *text);
      }
      if (!bounds::window_ms_valid(*ms)) {
        reject(node, where + ": a window longer than 31d must be whole seconds, not " + *text);
      }
      rule.window_ms = *ms;
    } else if (inherited_window) {
      rule.window_ms = *inherited_window;
    } else {
      reject(&table, where + ": window is missing");
    }
    rule.algorithm = default_algorithm;
    if (const toml::node* node = table.get("algorithm"))
      rule.algorithm = parse_algorithm(node, where);
    rule.counter_seed = core::counter_seed(policy.name, scope, rule.window_ms);
    rule.configured_limit = rule.limit;
    return rule;
  }

  core::Algorithm parse_algorithm(const toml::node* node, const std::string& where) const {
    const auto text = node->value<std::string>();
    const auto algorithm = text ? core::algorithm_from_name(*text) : std::nullopt;
    if (!node->is_string() || !algorithm) {
      reject(node, where + ": algorithm must be \"sliding\" or \"fixed\"");
    }
    return *algorithm;
  }

  // A table holding either limit/window[/algorithm] or limits = [{...}, ...].
  core::LimitSet parse_set(const toml::table& table, const std::string& where,
                           const core::Policy& policy, std::string_view scope,
                           core::Algorithm default_algorithm,
                           std::optional<std::uint64_t> inherited_window) {
    core::LimitSet set;
    // A table's algorithm is the default of every limit in it (a limit may still set its own).
    core::Algorithm set_algorithm = default_algorithm;
    if (const toml::node* node = table.get("algorithm"))
      set_algorithm = parse_algorithm(node, where);
    const bool single = table.contains("limit") || table.contains("window");
    const toml::node* list_node = table.get("limits");
    if (single && list_node != nullptr) {
      reject(list_node, where + ": use either limit/window or limits = [...], not both");
    }
    if (list_node != nullptr) {
      const toml::array* list = list_node->as_array();
      if (list == nullptr || list->empty()) {
        reject(list_node, where + ": limits must be a non-empty array of {limit, window} tables");
      }
      if (list->size() > bounds::limits_per_set_max) {
        reject(list_node, where + ": at most " + std::to_string(bounds::limits_per_set_max) +
                              " limits in one set");
      }
      for (std::size_t i = 0; i < list->size(); ++i) {
        const toml::node& element = *list->get(i);
        const toml::table* entry = element.as_table();
        const std::string entry_where = where + ": limits[" + std::to_string(i) + "]";
        if (entry == nullptr) reject(&element, entry_where + " must be a table {limit, window}");
        check_keys(*entry, entry_where, {"limit", "window", "algorithm"});
        if (!entry->contains("window")) reject(&element, entry_where + ": window is missing");
        set.rules.push_back(
            parse_rule(*entry, entry_where, policy, scope, set_algorithm, std::nullopt));
      }
    } else if (single) {
      set.rules.push_back(parse_rule(table, where, policy, scope, set_algorithm, inherited_window));
    } else {
      reject(&table, where + ": no limit: set limit and window, or limits = [...]");
    }
    for (std::size_t i = 0; i < set.rules.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (set.rules[i].window_ms == set.rules[j].window_ms) {
          reject(list_node, where + ": two limits with the same window " +
                                core::format_duration_ms(set.rules[i].window_ms) +
                                ": keep the stricter one");
        }
      }
    }
    return set;
  }

  static std::optional<std::uint64_t> single_window(const core::LimitSet& set) {
    if (set.rules.size() == 1) return set.rules.front().window_ms;
    return std::nullopt;
  }

  void parse_tiers(const toml::node* node, const std::string& where, core::Policy& policy,
                   std::string_view scope, core::Algorithm algorithm, const core::LimitSet& parent,
                   core::StringMap<core::LimitSet>& out) {
    const toml::table& tiers = table_of(node, where + ": tiers");
    if (tiers.size() > bounds::tiers_per_policy_max) {
      reject(node, where + ": at most " + std::to_string(bounds::tiers_per_policy_max) + " tiers");
    }
    for (auto&& [name, value] : tiers) {
      const std::string tier(name.str());
      check_name(&value, "tier name", tier, bounds::tier_name_bytes_max);
      const std::string tier_where = where + " tier '" + tier + "'";
      const toml::table& table = table_of(&value, tier_where);
      check_keys(table, tier_where, {"limit", "window", "algorithm", "limits"});
      out.emplace(tier,
                  parse_set(table, tier_where, policy, scope, algorithm, single_window(parent)));
      policy.tier_names.emplace(tier, true);
    }
  }

  // A source list: one string or an array of strings, each a valid source.
  std::vector<std::string> parse_sources(const toml::node* node, const std::string& where) const {
    std::vector<std::string> out;
    const auto add = [&](const toml::node& element) {
      const auto text = element.value<std::string>();
      if (!element.is_string() || !text) reject(&element, where + " must be a string or strings");
      const std::string& source = *text;
      const bool named = (source.rfind("query:", 0) == 0 && source.size() > 6) ||
                         (source.rfind("header:", 0) == 0 && source.size() > 7) ||
                         (source.rfind("header-first:", 0) == 0 && source.size() > 13);
      if (!named && source != "remote_addr") {
        reject(&element, where + ": '" + source +
                             "' is not a source (query:NAME, header:NAME, header-first:NAME, "
                             "remote_addr)");
      }
      out.push_back(source);
    };
    if (const toml::array* list = node->as_array()) {
      if (list->size() > 8) reject(node, where + ": at most 8 sources");
      for (const toml::node& element : *list) add(element);
    } else {
      add(*node);
    }
    return out;
  }

  void parse_policy_http(const toml::node& node, const std::string& where,
                         core::Policy::HttpMapping& out) const {
    const std::string http_where = where + " [http]";
    const toml::table& table = table_of(&node, http_where);
    check_keys(table, http_where, {"key", "tier", "endpoint", "method", "cost"});
    if (const toml::node* n = table.get("key")) out.key = parse_sources(n, http_where + " key");
    if (const toml::node* n = table.get("tier")) out.tier = parse_sources(n, http_where + " tier");
    if (const toml::node* n = table.get("endpoint")) {
      out.endpoint = parse_sources(n, http_where + " endpoint");
    }
    if (const toml::node* n = table.get("method"))
      out.method = parse_sources(n, http_where + " method");
    if (const toml::node* n = table.get("cost")) out.cost = parse_sources(n, http_where + " cost");
    if (out.key.empty()) reject(&node, http_where + ": key needs at least one source");
  }

  core::Policy parse_policy(const toml::table& table) {
    core::Policy policy;
    const toml::node* name_node = table.get("name");
    if (name_node == nullptr) reject(&table, "[[policy]]: name is missing");
    if (!name_node->is_string()) reject(name_node, "[[policy]]: name must be a string");
    policy.name = *name_node->value<std::string>();
    check_name(name_node, "policy name", policy.name, bounds::policy_name_bytes_max);
    const std::string where = "policy '" + policy.name + "'";
    check_keys(table, where,
               {"name", "limit", "window", "algorithm", "limits", "shadow", "tiers", "endpoints",
                "http", "adaptive", "enforcement", "rights_wait_max"});
    policy.shadow = get_bool(table, "shadow", where, false);
    const toml::node* enforcement = table.get("enforcement");
    if (enforcement != nullptr) policy.enforcement = parse_enforcement(enforcement, where);
    const bool hard = policy.enforcement == core::Enforcement::hard;
    // Hard limits count fixed windows: their default, and the only algorithm they take.
    core::Algorithm algorithm = hard ? core::Algorithm::fixed : core::Algorithm::sliding;
    if (const toml::node* node = table.get("algorithm")) algorithm = parse_algorithm(node, where);

    policy.defaults = parse_set(table, where, policy, "", algorithm, std::nullopt);
    if (const toml::node* node = table.get("tiers")) {
      parse_tiers(node, where, policy, "", algorithm, policy.defaults, policy.tiers);
    }
    if (const toml::node* node = table.get("endpoints")) {
      const toml::table& endpoints = table_of(node, where + ": endpoints");
      if (endpoints.size() > bounds::endpoints_per_policy_max) {
        reject(node, where + ": at most " + std::to_string(bounds::endpoints_per_policy_max) +
                         " endpoints");
      }
      for (auto&& [name, value] : endpoints) {
        const std::string endpoint(name.str());
        if (endpoint.empty() || endpoint.size() > bounds::endpoint_name_bytes_max) {
          reject(&value, where + ": endpoint names must have 1 to " +
                             std::to_string(bounds::endpoint_name_bytes_max) + " bytes");
        }
        for (unsigned char c : endpoint) {
          if (c < 0x20 || c == 0x7f) {
            reject(&value, where + ": endpoint names must not contain control characters");
          }
        }
        const std::string endpoint_where = where + " endpoint '" + endpoint + "'";
        const toml::table& scoped = table_of(&value, endpoint_where);
        check_keys(scoped, endpoint_where, {"limit", "window", "algorithm", "limits", "tiers"});
        core::EndpointLimits limits;
        limits.name = endpoint;
        // An endpoint's window defaults to the policy's, when the policy has a single limit.
        limits.defaults = parse_set(scoped, endpoint_where, policy, endpoint, algorithm,
                                    single_window(policy.defaults));
        if (const toml::node* tiers = scoped.get("tiers")) {
          // The endpoint's tiers default to the endpoint's algorithm.
          core::Algorithm endpoint_algorithm = algorithm;
          if (const toml::node* own = scoped.get("algorithm")) {
            endpoint_algorithm = parse_algorithm(own, endpoint_where);
          }
          parse_tiers(tiers, endpoint_where, policy, endpoint, endpoint_algorithm, limits.defaults,
                      limits.tiers);
        }
        policy.endpoints.emplace(endpoint, std::move(limits));
      }
      core::index_prefix_endpoints(policy);
    }
    if (const toml::node* node = table.get("http")) parse_policy_http(*node, where, policy.http);
    if (const toml::node* node = table.get("adaptive")) {
      policy.adaptive = parse_adaptive(table_of(node, where + ": adaptive"), where + " adaptive");
      policy.adaptive_enabled = true;
    }
    if (hard) reject_sliding_limits(*enforcement, where, policy);
    policy.rights_wait_max_ms =
        get_duration(table, "rights_wait_max", where, 0, 0, bounds::rights_wait_max_ms);
    if (policy.rights_wait_max_ms > 0 && !hard) {
      reject(table.get("rights_wait_max"),
             where +
                 ": rights_wait_max is for enforcement = \"hard\" (an approximate limit "
                 "never waits)");
    }
    return policy;
  }

  core::Enforcement parse_enforcement(const toml::node* node, const std::string& where) const {
    const auto text = node->value<std::string>();
    if (!node->is_string() || (*text != "approximate" && *text != "hard")) {
      reject(node, where + ": enforcement must be \"approximate\" or \"hard\"");
    }
    return *text == "hard" ? core::Enforcement::hard : core::Enforcement::approximate;
  }

  // A hard limit's rights are per fixed window: a sliding one has no sound split yet.
  void reject_sliding_limits(const toml::node& at, const std::string& where,
                             const core::Policy& policy) const {
    core::for_each_rule(policy, [&](const core::LimitRule& rule, const std::string& scope) {
      if (rule.algorithm != core::Algorithm::fixed) {
        reject(&at, where + ": enforcement = \"hard\" counts fixed windows only, but the " +
                        core::format_duration_ms(rule.window_ms) + " limit" + scope +
                        " is sliding (leave algorithm out, or set it to \"fixed\")");
      }
    });
  }

  double get_number(const toml::table& table, std::string_view key, const std::string& where,
                    std::optional<double> fallback, double min, double max) const {
    const toml::node* node = table.get(key);
    if (node == nullptr) {
      if (!fallback) reject(&table, where + ": " + std::string(key) + " is missing");
      return *fallback;
    }
    if (!node->is_number()) reject(node, where + ": " + std::string(key) + " must be a number");
    const double value = node->is_integer() ? static_cast<double>(*node->value<std::int64_t>())
                                            : *node->value<double>();
    if (!(value >= min && value <= max)) {
      reject(node, where + ": " + std::string(key) + " must be between " + format_number(min) +
                       " and " + format_number(max) + ", not " + format_number(value));
    }
    return value;
  }

  static std::string format_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
  }

  // [policy.adaptive]: the load signal and the control law (core/adaptive_controller.hpp).
  core::AdaptiveLaw parse_adaptive(const toml::table& table, const std::string& where) const {
    check_keys(table, where,
               {"signal", "target", "floor_at", "floor", "smoothing", "recover", "signal_stale"});
    core::AdaptiveLaw law;
    law.signal = get_string(table, "signal", where, "");
    constexpr std::string_view reported = core::signal_reported_prefix;
    const bool is_reported = law.signal.starts_with(reported);
    if (is_reported) {
      const std::string_view name = std::string_view(law.signal).substr(reported.size());
      check_name(table.get("signal"), "reported signal name", std::string(name), 64);
    } else if (law.signal != core::signal_loop_lag_ms && law.signal != core::signal_cpu_percent) {
      reject(table.contains("signal") ? table.get("signal") : &table,
             where + ": signal must be \"loop_lag_ms\", \"cpu_percent\" or \"reported:NAME\"");
    }
    constexpr double signal_max = 1e15;
    law.target = get_number(table, "target", where, std::nullopt, 0, signal_max);
    law.floor_at = get_number(table, "floor_at", where, std::nullopt, 0, signal_max);
    if (!(law.floor_at > law.target)) {
      reject(table.get("floor_at"), where + ": floor_at must be above target");
    }
    const double floor = get_number(table, "floor", where, 0.25, 0.001, 1.0);
    law.floor_permille = static_cast<std::uint32_t>(std::max(1.0, std::round(floor * 1000.0)));
    law.smoothing_ms =
        static_cast<std::int64_t>(get_duration(table, "smoothing", where, 2000, 0, 3'600'000));
    law.recover_ms = static_cast<std::int64_t>(
        get_duration(table, "recover", where, 10'000, 0, 24 * 3'600'000ULL));
    law.signal_stale_ms = static_cast<std::int64_t>(
        get_duration(table, "signal_stale", where, 10'000, 100, 24 * 3'600'000ULL));
    return law;
  }

  std::string source_;
  ParseOptions options_;
};

}  // namespace

Result<Config> parse_config(std::string_view toml_text, std::string_view source_name) {
  return parse_config(toml_text, source_name, ParseOptions{});
}

Result<Config> parse_config(std::string_view toml_text, std::string_view source_name,
                            const ParseOptions& options) {
  try {
    const toml::table root = toml::parse(toml_text, source_name);
    Parser parser(source_name, options);
    return parser.parse(root);
  } catch (const toml::parse_error& error) {
    std::ostringstream out;
    out << source_name << ":" << error.source().begin.line << ":" << error.source().begin.column
        << ": " << error.description();
    return Error{Errc::malformed_request, out.str()};
  } catch (const Rejection& rejection) {
    return Error{Errc::malformed_request, rejection.message};
  } catch (const std::exception& error) {
    return Error{Errc::internal, std::string(source_name) + ": " + error.what()};
  }
}

Result<std::string> read_config_text(const std::string& path) {
  // A directory opens as a stream on Linux and fails only when read ("read failed"): say what
  // it is. (The YAML directory of [envoy] is config_dir, inside the file.)
  std::error_code not_checked;
  if (std::filesystem::is_directory(path, not_checked)) {
    return Error{Errc::io_error, path +
                                     ": a directory, not a config file (name the TOML file, "
                                     "e.g. /etc/drl/drld.toml)"};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error{Errc::io_error, path + ": cannot open: " + std::strerror(errno)};
  }
  std::string text;
  char chunk[65536];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > bounds::config_file_bytes_max) {
      return Error{Errc::too_large, path + ": larger than " +
                                        std::to_string(bounds::config_file_bytes_max) + " bytes"};
    }
  }
  if (in.bad()) return Error{Errc::io_error, path + ": read failed"};
  return text;
}

Result<Config> load_config_file(const std::string& path) {
  Result<std::string> text = read_config_text(path);
  if (!text.ok()) return text.error();
  return parse_config(text.value(), path);
}

std::string restart_only_changes(const Config& before, const Config& after) {
  std::string changed;
  const auto note = [&changed](bool differs, const char* name) {
    if (!differs) return;
    if (!changed.empty()) changed += ", ";
    changed += name;
  };
  note(before.node.id != after.node.id, "node.id");
  note(before.node.socket_path != after.node.socket_path, "node.socket");
  note(before.node.socket_mode != after.node.socket_mode, "node.socket_mode");
  note(before.node.socket_group != after.node.socket_group, "node.socket_group");
  note(before.node.socket_owner != after.node.socket_owner, "node.socket_owner");
  note(before.bounds.idle_timeout_ms != after.bounds.idle_timeout_ms ||
           before.bounds.frame_timeout_ms != after.bounds.frame_timeout_ms ||
           before.bounds.stalled_output_timeout_ms != after.bounds.stalled_output_timeout_ms,
       "bounds timeouts");
  note(before.node.workers != after.node.workers, "node.workers");
  note(before.node.log_level != after.node.log_level, "node.log_level");
  note(before.node.watch_config != after.node.watch_config, "node.watch_config");
  note(before.node.state_dir != after.node.state_dir, "node.state_dir");
  note(before.node.state_save_interval_ms != after.node.state_save_interval_ms,
       "node.state_save_interval");
  note(before.bounds.max_keys != after.bounds.max_keys, "bounds.max_keys");
  note(before.bounds.store_shards != after.bounds.store_shards, "bounds.store_shards");
  note(before.bounds.max_connections != after.bounds.max_connections, "bounds.max_connections");
  note(before.bounds.max_request_bytes != after.bounds.max_request_bytes,
       "bounds.max_request_bytes");
  note(before.bounds.max_batch_checks != after.bounds.max_batch_checks, "bounds.max_batch_checks");
  note(before.bounds.max_pending_output_bytes != after.bounds.max_pending_output_bytes,
       "bounds.max_pending_output_bytes");
  const ClusterSettings& a = before.cluster;
  const ClusterSettings& b = after.cluster;
  note(a.enabled != b.enabled, "[cluster]");
  note(a.bind != b.bind, "cluster.bind");
  note(a.advertise != b.advertise, "cluster.advertise");
  note(a.peers != b.peers, "cluster.peers");
  note(a.seeds != b.seeds || a.seeds_resolve_interval_ms != b.seeds_resolve_interval_ms,
       "cluster.seeds");
  note(a.gossip_interval_ms != b.gossip_interval_ms ||
           a.heartbeat_interval_ms != b.heartbeat_interval_ms ||
           a.suspect_after_ms != b.suspect_after_ms || a.down_after_ms != b.down_after_ms ||
           a.unreachable_after_ms != b.unreachable_after_ms ||
           a.forget_after_ms != b.forget_after_ms || a.repair_interval_ms != b.repair_interval_ms ||
           a.repair_updates_per_interval != b.repair_updates_per_interval ||
           a.warmup_max_ms != b.warmup_max_ms || a.clock_skew_max_ms != b.clock_skew_max_ms ||
           a.totals_wait_max_ms != b.totals_wait_max_ms,
       "cluster timing");
  note(a.dissemination != b.dissemination, "cluster.dissemination");
  note(a.key_file != b.key_file || a.previous_key_file != b.previous_key_file ||
           a.allow_readable_key_file != b.allow_readable_key_file,
       "cluster keys");
  note(before.http.enabled != after.http.enabled || before.http.listen != after.http.listen ||
           before.http.allow_remote != after.http.allow_remote ||
           before.http.threads != after.http.threads ||
           before.http.max_connections != after.http.max_connections ||
           before.http.idle_timeout_ms != after.http.idle_timeout_ms ||
           before.http.problem_details != after.http.problem_details ||
           before.http.request_timeout_ms != after.http.request_timeout_ms,
       "[http]");
  note(before.envoy.enabled != after.envoy.enabled || before.envoy.listen != after.envoy.listen ||
           before.envoy.allow_remote != after.envoy.allow_remote,
       "[envoy] listen");
  note(before.envoy.config_dir != after.envoy.config_dir, "envoy.config_dir");
  note(before.envoy.response_headers != after.envoy.response_headers, "envoy.response_headers");
  note(before.envoy.threads != after.envoy.threads, "envoy.threads");
  note(a.datagram_bytes != b.datagram_bytes || a.max_peers != b.max_peers ||
           a.max_origins != b.max_origins,
       "cluster bounds");
  return changed;
}

}  // namespace drl::config
