// The configuration file: one TOML document, parsed and validated in full before it is used.
// Parsing is pure (text in, Config or a precise error out); reading the file is the caller's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bounds.hpp"
#include "core/dissemination.hpp"
#include "core/partition_policy.hpp"
#include "core/policy.hpp"
#include "drl/result.hpp"

namespace drl::config {

inline constexpr std::string_view default_socket_path = "/run/drl/drld.sock";

// [node]: who this node is and where it listens. Changing these needs a restart.
struct NodeSettings {
  std::string id;  // empty: the host name
  std::string socket_path{default_socket_path};
  std::uint32_t socket_mode = 0660;
  std::string socket_group;  // empty: the daemon's group
  std::string socket_owner;  // empty: the daemon's user
  std::size_t workers = 0;   // 0: one per CPU
  std::string log_level = "info";
  bool watch_config = true;  // reload when the file changes
  // Where the counts are saved and read back at start (docs/operations.md, "State directory");
  // empty: nowhere, a node that forgets its counts when it stops.
  std::string state_dir;
  std::uint64_t state_save_interval_ms = 1000;
};

// [bounds]: how much the daemon holds at most. Changing these needs a restart.
struct Bounds {
  std::size_t max_keys = bounds::store_keys_default;
  std::size_t store_shards = bounds::store_shards_default;
  std::size_t max_connections = bounds::connections_default;
  std::size_t max_request_bytes = bounds::frame_bytes_default;
  std::size_t max_batch_checks = bounds::batch_checks_default;
  std::size_t max_pending_output_bytes = bounds::connection_output_bytes_default;
  // Connection timeouts (0 disables one): no bytes received; a frame begun and not finished;
  // answers waiting and none read.
  std::uint64_t idle_timeout_ms = 300'000;
  std::uint64_t frame_timeout_ms = 10'000;
  std::uint64_t stalled_output_timeout_ms = 30'000;
};

// [cluster]: replication between nodes. Absent: a cluster of one (no UDP socket at all).
// Changing these needs a restart, except partition_policy.
struct ClusterSettings {
  bool enabled = false;
  std::string bind;       // "host:port" of the UDP socket
  std::string advertise;  // how peers reach us; empty: bind, unless bind is a wildcard
  std::vector<std::string> peers;
  // Where to find members ("host:port", a host name usually: a DNS name with an address per
  // node, as a Kubernetes headless service has), resolved at start and every
  // seeds_resolve_interval_ms to every address it has. Unlike peers, their addresses are
  // learned members: not members until heard, forgotten forget_after after they go down.
  std::vector<std::string> seeds;
  std::uint64_t seeds_resolve_interval_ms = 30'000;  // 0: at start only
  std::uint64_t gossip_interval_ms = 5;
  std::uint64_t heartbeat_interval_ms = 200;
  std::uint64_t suspect_after_ms = 1000;
  std::uint64_t down_after_ms = 3000;
  // 0: the default, min(suspect_after, 2.5 heartbeat intervals) (replication_config_of).
  std::uint64_t unreachable_after_ms = 0;
  std::uint64_t forget_after_ms = 600'000;
  std::uint64_t repair_interval_ms = 100;
  std::uint64_t repair_updates_per_interval = 4096;
  // At start, checks wait for a peer's full sync of counts at most this long (0: no wait;
  // core/warmup.hpp).
  std::uint64_t warmup_max_ms = 500;
  // Through key owners, a key's first check on a node waits at most this long for the owners'
  // totals (0: no wait; core/totals_requests.hpp).
  std::uint64_t totals_wait_max_ms = bounds::totals_wait_default_ms;
  // The most any member's wall clock may be ahead of another's. Hard limits rely on it: a node
  // that starts takes no rights in windows that begin before its start plus this
  // (core/hard_rights.hpp), since its earlier life may have counted in them.
  std::uint64_t clock_skew_max_ms = 1000;
  std::string key_file;           // enables authentication (keyed BLAKE2b MACs)
  std::string previous_key_file;  // still accepted, during a key rotation
  core::PartitionPolicy partition_policy = core::PartitionPolicy::optimistic;
  // How counts travel: the full mesh, through key owners, or by the member count (auto).
  core::Dissemination dissemination = core::Dissemination::automatic;
  std::uint64_t datagram_bytes = bounds::datagram_bytes_default;
  std::uint64_t max_peers = 1024;
  std::uint64_t max_origins = 4096;
  // drld refuses to start with a key file other users can read, unless this says so
  // (docs/security.md, "Files and permissions").
  bool allow_readable_key_file = false;
};

// [http]: the decision endpoint for proxies, and /metrics. Absent: no HTTP listener.
// Changing these needs a restart.
struct HttpSettings {
  bool enabled = false;
  std::string listen;         // "host:port"
  bool allow_remote = false;  // a non-loopback listen address must say so
  // Event-loop threads; each serves any number of connections.
  std::uint64_t threads = bounds::http_threads_default;
  // Beyond it, a new connection takes the place of the one silent longest.
  std::uint64_t max_connections = bounds::http_connections_default;
  bool problem_details = true;  // application/problem+json body on 429
  std::uint64_t request_timeout_ms = bounds::http_request_timeout_ms_default;  // head and body
  std::uint64_t idle_timeout_ms = bounds::http_idle_timeout_ms_default;        // between requests
};

// [envoy]: Envoy's rate limit service (gRPC), answering from envoyproxy/ratelimit's YAML
// files in config_dir (docs/integration.md#envoy). Absent: no gRPC port. The files in
// config_dir and `algorithm` apply at a reload; the other keys need a restart.
struct EnvoySettings {
  bool enabled = false;
  std::string listen;         // "host:port" of the gRPC service
  bool allow_remote = false;  // a non-loopback listen address must say so
  std::string config_dir;     // *.yaml / *.yml files, one domain each
  // For YAML limits that do not name one: fixed, as envoyproxy/ratelimit counts.
  core::Algorithm algorithm = core::Algorithm::fixed;
  // Response headers for Envoy to add: "none", "ietf" (RateLimit, RateLimit-Policy),
  // "x-ratelimit" (envoyproxy/ratelimit's X-RateLimit-*), or "both".
  std::string response_headers = "none";
  // Threads of the gRPC server, each taking and deciding calls.
  std::uint64_t threads = bounds::rls_server_threads_default;
};

struct Config {
  NodeSettings node;
  Bounds bounds;
  ClusterSettings cluster;
  HttpSettings http;
  EnvoySettings envoy;
  std::shared_ptr<const core::PolicySet> policies;
};

// For files that embed a drld configuration in a larger document (simulator scenarios).
struct ParseOptions {
  std::vector<std::string> ignored_top_level_keys;  // left to the caller
  bool cluster_bind_optional = false;
};

// `source_name` prefixes error messages ("drld.toml:12:3: ..."). Never throws.
Result<Config> parse_config(std::string_view toml_text, std::string_view source_name);
Result<Config> parse_config(std::string_view toml_text, std::string_view source_name,
                            const ParseOptions& options);

// Reads a file's text (bounded by bounds::config_file_bytes_max). Never throws.
Result<std::string> read_config_text(const std::string& path);

// read_config_text, then parse_config.
Result<Config> load_config_file(const std::string& path);

// Names of the restart-only settings that differ between two configs ("node.socket", ...).
std::string restart_only_changes(const Config& before, const Config& after);

}  // namespace drl::config
