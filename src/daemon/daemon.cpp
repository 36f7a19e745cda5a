#include "daemon/daemon.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "config/replication_settings.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "core/duration.hpp"
#include "core/origin_table.hpp"
#include "daemon/config_manager.hpp"
#include "daemon/dynamic_limits.hpp"
#ifdef DRL_WITH_ENVOY
#include "daemon/envoy_service.hpp"
#include "envoy/rls_config.hpp"
#include "envoy/rls_policies.hpp"
#endif
#include "daemon/http_service.hpp"
#include "daemon/rights_wait.hpp"
#include "daemon/service.hpp"
#include "daemon/startup_hold.hpp"
#include "daemon/state_keeper.hpp"
#include "io/address.hpp"
#include "io/clock.hpp"
#include "io/cluster_driver.hpp"
#include "io/file_watcher.hpp"
#include "io/framed_protocol.hpp"
#include "io/host_cpu_sampler.hpp"
#include "io/log.hpp"
#include "io/main_loop.hpp"
#include "io/open_files_limit.hpp"
#include "io/seed_resolver.hpp"
#include "io/stream_server.hpp"
#include "io/unix_listener.hpp"
#include "wire/cluster_node.hpp"
#include "wire/response_encoder.hpp"

#ifndef DRL_VERSION
#define DRL_VERSION "unknown"
#endif

namespace drl::daemon {
namespace {

constexpr std::uint64_t kSweepIntervalMs = 100;
constexpr std::size_t kSweepSlotsPerTick = 16384;
constexpr std::uint64_t kWatchDebounceMs = 100;
constexpr std::uint64_t kSkewCheckIntervalMs = 5000;
// How soon after the start-up hold ends the log says how it ended.
constexpr std::uint64_t kStartupHoldCheckIntervalMs = 10;
// Connections waiting to be accepted; the kernel caps it at net.core.somaxconn (4096 by default
// since Linux 5.4). A burst of connections beyond it sees EAGAIN (or ECONNREFUSED) and retries.
constexpr int kListenBacklog = 4096;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "drl-node";
  return name;
}

// The shortest window of any policy: clock skew is judged against it.
std::uint64_t shortest_window_ms(const core::PolicySet& policies) {
  std::uint64_t shortest = bounds::window_ms_max;
  const auto visit = [&shortest](const core::LimitSet& set) {
    for (const core::LimitRule& rule : set.rules)
      shortest = std::min<std::uint64_t>(shortest, rule.window_ms);
  };
  for (const core::Policy& policy : policies.policies()) {
    visit(policy.defaults);
    for (const auto& [name, set] : policy.tiers) visit(set);
    for (const auto& [name, endpoint] : policy.endpoints) {
      visit(endpoint.defaults);
      for (const auto& [tier, set] : endpoint.tiers) visit(set);
    }
  }
  return shortest;
}

Result<wire::ClusterKey> read_key(const std::string& path) {
  Result<std::string> text = config::read_config_text(path);
  if (!text.ok()) return Error{Errc::io_error, "cluster key: " + text.error().message};
  wire::ClusterKey key{};
  if (!wire::parse_cluster_key(text.value(), key)) {
    return Error{Errc::io_error, path + ": a cluster key is 32 raw bytes or 64 hex digits"};
  }
  return key;
}

bool is_wildcard(const std::string& address) {
  return address.rfind("0.0.0.0:", 0) == 0 || address.rfind("[::]:", 0) == 0;
}

bool has_hard_policy(const core::PolicySet& policies) {
  for (const core::Policy& policy : policies.policies()) {
    if (policy.enforcement == core::Enforcement::hard) return true;
  }
  return false;
}

// Hard limits have no share here in windows that begin before this run's start plus the clock
// skew allowed (`split`'s rights_from): with long windows, most of a day. In a cluster, none
// either until every member has named the same members (`awaiting_members`). Said at start,
// once per window length.
void log_first_hard_shares(const core::PolicySet& policies, const core::RightsSplit& split,
                           bool awaiting_members) {
  std::vector<std::uint64_t> logged;
  for (const core::Policy& policy : policies.policies()) {
    if (policy.enforcement != core::Enforcement::hard) continue;
    core::for_each_rule(policy, [&](const core::LimitRule& rule, const std::string&) {
      if (std::find(logged.begin(), logged.end(), rule.window_ms) != logged.end()) return;
      logged.push_back(rule.window_ms);
      const std::uint64_t first = core::first_window_with_rights(split, rule.window_ms);
      io::log_info("hard limits: this node's first share of a " +
                   core::format_duration_ms(rule.window_ms) + " window (policy '" + policy.name +
                   "' and others of that window) is in the one that begins at " +
                   core::format_utc(static_cast<std::int64_t>(first * rule.window_ms)) +
                   (awaiting_members ? " or later, once every member has named the same members "
                                       "(drl status: rights_members_agreed)"
                                     : std::string()) +
                   (split.members > 1
                        ? "; until then its hard checks are denied unless a peer grants rights"
                        : "; until then its hard checks are denied (what an earlier run of "
                          "this node admitted there is not known)"));
    });
  }
}

}  // namespace

int check_config(const std::string& path) {
  const Result<config::Config> loaded = config::load_config_file(path);
  if (!loaded.ok()) {
    std::fprintf(stderr, "%s\n", loaded.error().message.c_str());
    return 1;
  }
  std::string envoy_note;
  if (loaded->envoy.enabled) {
#ifdef DRL_WITH_ENVOY
    const Result<std::shared_ptr<const envoy::RlsRules>> rules = load_envoy_rules(loaded->envoy);
    if (!rules.ok()) {
      std::fprintf(stderr, "%s\n", rules.error().message.c_str());
      return 1;
    }
    envoy_note = "; " + rules_summary(*rules.value()) + " in " + loaded->envoy.config_dir;
#else
    std::fprintf(stderr, "%s: [envoy]: this drld was built without Envoy support\n", path.c_str());
    return 1;
#endif
  }
  std::printf("%s: OK (%zu policies%s)\n", path.c_str(), loaded->policies->policies().size(),
              envoy_note.c_str());
  return 0;
}

int run_daemon(const DaemonOptions& options) {
  std::string text;
  Result<config::Config> loaded = Error{};
  if (options.config_path) {
    Result<std::string> read = config::read_config_text(*options.config_path);
    if (!read.ok()) {
      std::fprintf(stderr, "drld: %s\n", read.error().message.c_str());
      return 1;
    }
    text = std::move(read.value());
    loaded = config::parse_config(text, *options.config_path);
  } else {
    text = embedded_default_config;
    loaded = config::parse_config(text, "(embedded default config)");
  }
  if (!loaded.ok()) {
    std::fprintf(stderr, "drld: %s\n", loaded.error().message.c_str());
    return 1;
  }
  const config::Config file_config = loaded.value();
  config::Config config = loaded.value();
  if (options.socket_path) config.node.socket_path = *options.socket_path;
  if (options.state_dir) {
    // On the command line a relative path means what a shell user means: from here.
    config.node.state_dir = *options.state_dir;
    if (!config.node.state_dir.empty() && config.node.state_dir.front() != '/') {
      config.node.state_dir =
          std::filesystem::current_path().string() + "/" + config.node.state_dir;
    }
  }
  if (options.workers) config.node.workers = *options.workers;
  if (options.log_level) config.node.log_level = *options.log_level;
  if (config.node.workers > bounds::workers_max) {
    std::fprintf(stderr, "drld: at most %zu workers\n", bounds::workers_max);
    return 1;
  }
#ifndef DRL_WITH_ENVOY
  if (config.envoy.enabled) {
    std::fprintf(stderr,
                 "drld: [envoy]: this drld was built without Envoy support (build with meson "
                 "-Denvoy=enabled; scripts/setup.sh installs what it needs)\n");
    return 1;
  }
#endif
  io::set_log_level(io::log_level_from_name(config.node.log_level));
  if (config.node.id.empty()) config.node.id = host_name();

  // Files another user could change, or read for a key (docs/security.md, "Files and
  // permissions"): a key file others can read stops the start; the rest are warnings.
  std::vector<PermissionWarning> permission_warnings =
      file_permission_warnings(options.config_path, config);
  bool refused = false;
  for (const PermissionWarning& warning : permission_warnings) {
    if (!warning.refuses_start) continue;
    std::fprintf(stderr, "drld: %s\n", warning.message.c_str());
    refused = true;
  }
  if (refused) return 1;

  // A client that goes away must not kill the daemon with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);

  const std::size_t workers =
      config.node.workers != 0
          ? config.node.workers
          : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, bounds::workers_max);
  // No more shards than keys, so that every shard can hold at least one.
  const std::size_t shards =
      std::min(config.bounds.store_shards, std::bit_floor(config.bounds.max_keys));
  core::CounterStore store(
      core::StoreOptions{config.bounds.max_keys, shards, config.cluster.enabled});
  // A number new at every start: the origin of the counts this run makes.
  const auto incarnation = static_cast<std::uint64_t>(io::wall_now().unix_ms) * 1000 +
                           static_cast<std::uint64_t>(io::mono_now().ns / 1000 % 1000);
  core::OriginTable origins(core::Origin{config.node.id, incarnation}, config.cluster.max_origins);
  core::ClusterSignals signals;
  signals.proportional.store(config.cluster.partition_policy ==
                             core::PartitionPolicy::proportional);
  // Hard limits give no rights in windows that begin before this run's start plus the clock
  // skew allowed (core/hard_rights.hpp); a single node holds all the others. Before the engine
  // and the cluster node, which use it.
  const std::int64_t rights_from_unix_ms =
      static_cast<std::int64_t>(incarnation / 1000) +
      static_cast<std::int64_t>(config.cluster.clock_skew_max_ms);
  core::RightsLedger rights(core::RightsSplit{1, 0, rights_from_unix_ms});
  // Where a key's first check through owners asks for their totals (the replication's thread
  // says when checks wait for them).
  core::TotalsRequests totals_requests;
  core::CheckEngine engine(store, core::OriginTable::local_index, &signals);
  engine.set_rights(&rights);
  engine.set_totals_requests(&totals_requests);
  // The counts saved by the previous run, back in the store before any check is answered
  // (and before peers send theirs: both are G-counter merges, so the order does not matter).
  // The policies checks use: the configured ones with runtime overrides and adaptive factors.
  // Before the saved state: its override records (key resets with the counts they forget) go
  // back into this table.
  DynamicLimits dynamic(config.node.id, config.policies);
  std::unique_ptr<StateKeeper> state_keeper;
  if (!config.node.state_dir.empty()) {
    state_keeper = std::make_unique<StateKeeper>(
        config.node.state_dir, config.node.state_save_interval_ms, store, origins, dynamic.table(),
        config::replication_config_of(config.cluster).origin_retire_after_ms);
    if (!state_keeper->restore()) return 1;
    dynamic.republish_if_table_moved(io::wall_now());
  }

  Result<io::UnixListener> listener =
      io::UnixListener::open(config.node.socket_path, config.node.socket_mode,
                             config.node.socket_owner, config.node.socket_group, kListenBacklog);
  if (!listener.ok()) {
    std::fprintf(stderr, "drld: %s\n", listener.error().message.c_str());
    return 1;
  }

  for (PermissionWarning& warning : socket_permission_warnings(config.node)) {
    permission_warnings.push_back(std::move(warning));
  }
  for (PermissionWarning& warning : state_dir_permission_warnings(config.node)) {
    permission_warnings.push_back(std::move(warning));
  }
  ConfigManager manager(options.config_path, file_config, text);
  manager.report_start_permissions(permission_warnings);
  // A tenth of the shortest window, and at least 1 ms (what the clocks are read to).
  const auto skew_threshold = [](const core::PolicySet& policies) {
    return std::max<std::uint64_t>(1, shortest_window_ms(policies) / 10);
  };
  std::atomic<std::uint64_t> skew_threshold_ms{skew_threshold(*config.policies)};
  manager.on_applied(
      [&signals, &skew_threshold_ms, &skew_threshold, &dynamic](const config::Config& applied) {
        signals.proportional.store(applied.cluster.partition_policy ==
                                   core::PartitionPolicy::proportional);
        skew_threshold_ms.store(skew_threshold(*applied.policies));
        dynamic.on_config_applied(applied.policies, io::wall_now());
      });

  io::MainLoop loop;
  // A node starting into a cluster answers no check before it has its peers' counts, for at
  // most warmup_max (core/warmup.hpp); opened by the cluster driver's receive hook below.
  StartupHold startup_hold(
      io::mono_now(),
      config.cluster.enabled ? static_cast<std::int64_t>(config.cluster.warmup_max_ms) : 0);
  DaemonContext context;
  context.startup_hold = &startup_hold;
  context.store = &store;
  context.engine = &engine;
  context.config = &manager;
  context.dynamic = &dynamic;
  context.origins = &origins;
  context.state = state_keeper.get();
  context.node_id = config.node.id;
  context.incarnation = incarnation;
  context.version = DRL_VERSION;
  context.started = io::mono_now();
  context.started_wall_ms = io::wall_now().unix_ms;
  context.workers = workers;
  context.max_batch_checks = config.bounds.max_batch_checks;
  context.max_frame_bytes = config.bounds.max_request_bytes;
  context.skew_threshold_ms = &skew_threshold_ms;
  for (std::size_t i = 0; i < workers; ++i) {
    context.counters.push_back(std::make_unique<ServiceCounters>());
  }
  // The HTTP endpoint's block, last: written by several threads.
  context.counters.push_back(std::make_unique<ServiceCounters>(true));

  // Replication, when [cluster] is configured. The driver calls into the node: declared after
  // it, so that it is destroyed (and stopped) first, whichever way this function returns.
  std::unique_ptr<wire::ClusterNode> node;
  std::unique_ptr<io::ClusterDriver> driver;
  // After the driver it asks to send requests for rights: destroyed before it.
  std::unique_ptr<RightsWait> rights_wait;
  std::unique_ptr<io::SeedResolver> seed_resolver;  // adds to the node, on the loop thread
  if (config.cluster.enabled) {
    const config::ClusterSettings& cluster = config.cluster;
    wire::CodecOptions codec;
    codec.datagram_bytes_max = cluster.datagram_bytes;
    for (const std::string& path : {cluster.key_file, cluster.previous_key_file}) {
      if (path.empty()) continue;
      Result<wire::ClusterKey> key = read_key(path);
      if (!key.ok()) {
        std::fprintf(stderr, "drld: %s\n", key.error().message.c_str());
        return 1;
      }
      codec.keys.push_back(key.value());
    }
    // Names resolve once, here: peers are then known by numeric address only.
    Result<std::string> bind_address = io::resolve_address(cluster.bind);
    if (!bind_address.ok()) {
      std::fprintf(stderr, "drld: [cluster] bind: %s\n", bind_address.error().message.c_str());
      return 1;
    }
    std::vector<std::string> peers;
    std::size_t unresolved_peers = 0;  // still members: hard limits split over them too
    for (const std::string& peer :
         cluster
             .peers) {  // Of the bind's family: the one socket must be able to send to every peer.
      const int family = bind_address.value().front() == '[' ? AF_INET6 : AF_INET;
      Result<std::string> resolved = io::resolve_address(peer, family);
      if (!resolved.ok()) {
        io::log_warn("[cluster] peer " + peer + " left out: " + resolved.error().message);
        ++unresolved_peers;
        continue;
      }
      peers.push_back(resolved.value());
    }
    std::string advertise;
    if (!cluster.advertise.empty()) {
      Result<std::string> resolved = io::resolve_address(cluster.advertise);
      if (!resolved.ok()) {
        std::fprintf(stderr, "drld: [cluster] advertise: %s\n", resolved.error().message.c_str());
        return 1;
      }
      advertise = resolved.value();
    }
    driver = std::make_unique<io::ClusterDriver>(loop, signals, origins);
    Result<std::string> bound = driver->bind(bind_address.value());
    if (!bound.ok()) {
      std::fprintf(stderr, "drld: %s\n", bound.error().message.c_str());
      return 1;
    }
    // One peer list for every node names this one too: its advertised and bound addresses, and
    // for a wildcard bind every address of this host with its port. It cannot learn that from
    // its own datagrams coming back, which may be replays.
    const std::vector<io::InterfaceAddress> interfaces = io::interface_addresses();
    // Names that resolve to one address ("localhost:7001", "127.0.0.1:7001") are one peer.
    std::vector<std::string> unique_peers;
    for (std::string& peer : peers) {
      if (std::find(unique_peers.begin(), unique_peers.end(), peer) == unique_peers.end()) {
        unique_peers.push_back(std::move(peer));
      }
    }
    peers = std::move(unique_peers);
    std::string this_node;
    std::erase_if(peers, [&](const std::string& peer) {
      if (peer != advertise && !io::is_own_address(peer, bound.value(), interfaces)) return false;
      this_node += (this_node.empty() ? "" : ", ") + peer;
      return true;
    });
    if (!this_node.empty()) io::log_info("[cluster] peers left out as this node: " + this_node);
    // Seeds: every address of each name, now and every seeds_resolve_interval; learned members,
    // not configured ones (a name's addresses come and go with the nodes behind it).
    const int family = bound.value().front() == '[' ? AF_INET6 : AF_INET;
    // By value: the resolver calls it long after this block has ended.
    const auto ours = [advertise, bound = bound.value(), interfaces](const std::string& address) {
      return address == advertise || io::is_own_address(address, bound, interfaces);
    };
    std::vector<std::string> seed_addresses;
    for (const std::string& seed : cluster.seeds) {
      Result<std::vector<std::string>> resolved =
          io::resolve_addresses(seed, family, bounds::seed_addresses_max);
      if (!resolved.ok()) {
        io::log_warn(
            "[cluster] seed " + seed + ": " + resolved.error().message +
            (cluster.seeds_resolve_interval_ms == 0 ? std::string() : "; trying again later"));
        continue;
      }
      for (const std::string& address : resolved.value()) {
        if (!ours(address)) seed_addresses.push_back(address);
      }
    }
    core::ReplicationConfig replication = config::replication_config_of(cluster);
    replication.node_id = config.node.id;
    replication.incarnation = incarnation;
    // Peers learn where to reach us from this; a wildcard bind leaves them the source address.
    replication.address = !advertise.empty()           ? advertise
                          : is_wildcard(bound.value()) ? std::string()
                                                       : bound.value();
    replication.seeds = peers;
    rights.set_split(
        core::rights_split_of(replication.address, peers, unresolved_peers, rights_from_unix_ms));
    // A member takes its shares once every other member has named the same members.
    if (rights.split().members > 1) {
      rights.await_members(static_cast<std::int64_t>(cluster.clock_skew_max_ms));
    }
    if (rights.split().rank == core::RightsSplit::unranked) {
      io::log_info(
          "[cluster] hard limits: this node cannot place itself among the members (it needs "
          "[cluster] advertise or a bind address of its own, and every peer's name resolved), so "
          "no other member names the same members: it takes no share of any window and admits "
          "hard limits' checks only with rights its peers grant it");
    }
    node = std::make_unique<wire::ClusterNode>(replication, codec, store, origins);
    for (const std::string& address : seed_addresses) {
      node->replicator().add_seed(io::mono_now(), address);
    }
    if (!cluster.seeds.empty()) {
      seed_resolver = std::make_unique<io::SeedResolver>(
          loop, cluster.seeds, family, cluster.seeds_resolve_interval_ms,
          [&node, ours](const std::string& seed, const std::vector<std::string>& addresses) {
            for (const std::string& address : addresses) {
              if (!ours(address) && node->replicator().add_seed(io::mono_now(), address)) {
                io::log_info("[cluster] seed " + seed + " resolves to a new address: " + address);
              }
            }
          });
    }
    // Overrides travel with the gossip: peers' records merge into the table, ours go out, and a
    // restarted node gets the active ones back from its peers.
    node->replicator().set_overrides(&dynamic.table());
    node->replicator().set_rights(&rights);
    node->replicator().set_totals_requests(&totals_requests);
    rights_wait = std::make_unique<RightsWait>(
        rights, totals_requests, workers, [driver = driver.get()] { driver->send_rights_now(); });
    context.rights_wait = rights_wait.get();
    driver->set_receive_hook([&dynamic, &startup_hold, &node, &rights_wait] {
      dynamic.republish_if_table_moved(io::wall_now());
      if (!startup_hold.is_open() && node->replicator().has_cluster_counts())
        startup_hold.open(io::mono_now());
      rights_wait->on_datagram();
    });
    driver->start(*node);
    if (seed_resolver) seed_resolver->start();
    // No peer to wait for (the first node of a cluster, peers learned later).
    if (node->replicator().has_cluster_counts()) startup_hold.open(io::mono_now());
    context.cluster = driver.get();
    context.cluster_authenticated = !codec.keys.empty();
  }

  // Each client connection is a descriptor, and each HTTP connection; the rest of the process
  // needs a few dozen (sockets, the loops' own, the config watcher).
  const std::uint64_t open_files = io::raise_open_files_limit();
  const std::uint64_t descriptors_needed =
      config.bounds.max_connections + 64 + (config.http.enabled ? config.http.max_connections : 0);
  if (open_files != 0 && open_files < descriptors_needed) {
    io::log_warn("the open files limit (" + std::to_string(open_files) +
                 ") is below what max_connections needs (" + std::to_string(descriptors_needed) +
                 "): connections beyond it are turned away as out_of_fds; raise LimitNOFILE or "
                 "ulimit -n, or lower max_connections (and [http] max_connections)");
  }

  io::ServerOptions server_options;
  server_options.workers = workers;
  server_options.max_connections = config.bounds.max_connections;
  server_options.max_frame_bytes = config.bounds.max_request_bytes;
  server_options.max_pending_output_bytes = config.bounds.max_pending_output_bytes;
  server_options.idle_timeout_ms = config.bounds.idle_timeout_ms;
  server_options.frame_timeout_ms = config.bounds.frame_timeout_ms;
  server_options.stalled_output_timeout_ms = config.bounds.stalled_output_timeout_ms;
  std::string reject_frame;
  wire::ResponseEncoder(reject_frame)
      .error(0, Errc::unavailable, "too many connections (max_connections reached); try later");
  io::StreamServer server(
      loop, listener->fd(), server_options,
      io::framed_protocols(
          [&context](std::size_t worker) { return std::make_unique<Service>(context, worker); },
          config.bounds.max_request_bytes),
      reject_frame);
  context.server = &server.counters();

  // The decision endpoint and /metrics, when [http] is configured. Its counters are in the
  // context before its threads start: the status and /metrics read them.
  std::unique_ptr<http::HttpServer> http_server;
  if (config.http.enabled) {
    http::HttpServerOptions http_options;
    http_options.listen = config.http.listen;
    http_options.threads = config.http.threads;
    http_options.max_connections = config.http.max_connections;
    http_options.idle_timeout_ms = config.http.idle_timeout_ms;
    http_options.request_timeout_ms = config.http.request_timeout_ms;
    http_options.stalled_output_timeout_ms = config.bounds.stalled_output_timeout_ms;
    http_options.max_pending_output_bytes = config.bounds.max_pending_output_bytes;
    Result<std::unique_ptr<http::HttpServer>> started =
        http::HttpServer::open(loop, http_options, http_routes(context, config.http));
    if (!started.ok()) {
      std::fprintf(stderr, "drld: %s\n", started.error().message.c_str());
      return 1;
    }
    http_server = std::move(started.value());
    context.http_counters = &http_server->counters();
    context.http_connections = &http_server->connection_counters();
  }

#ifdef DRL_WITH_ENVOY
  // Envoy's rate limit service, when [envoy] is configured: its YAML files reload with the
  // TOML (and when one of them changes), all or nothing.
  std::unique_ptr<EnvoyService> envoy_service;
  std::unique_ptr<io::FileWatcher> envoy_watcher;
  if (config.envoy.enabled) {
    Result<std::unique_ptr<EnvoyService>> started =
        EnvoyService::start(config.envoy, engine, startup_hold);
    if (!started.ok()) {
      std::fprintf(stderr, "drld: %s\n", started.error().message.c_str());
      return 1;
    }
    envoy_service = std::move(started.value());
    context.envoy = envoy_service.get();
    manager.set_companion([&envoy_service, running = config.envoy](const config::Config& parsed) {
      config::EnvoySettings settings = running;  // config_dir and the rest: restart-only
      settings.algorithm = parsed.envoy.algorithm;
      return envoy_service->prepare(settings);
    });
    if (options.config_path && config.node.watch_config) {
      envoy_watcher = std::make_unique<io::FileWatcher>(
          loop, config.envoy.config_dir + "/",
          [&manager] {
            [[maybe_unused]] auto result = manager.reload("ratelimit file change", false);
          },
          kWatchDebounceMs);
      if (const int status = envoy_watcher->start(); status != 0) {
        io::log_warn("cannot watch " + config.envoy.config_dir +
                     " for changes; reload with SIGHUP or drl reload");
        envoy_watcher.reset();
      }
    }
  }
#endif

  std::unique_ptr<io::FileWatcher> watcher;
  if (options.config_path && config.node.watch_config) {
    watcher = std::make_unique<io::FileWatcher>(
        loop, *options.config_path,
        [&manager] { [[maybe_unused]] auto result = manager.reload("file change", true); },
        kWatchDebounceMs);
    if (const int status = watcher->start(); status != 0) {
      io::log_warn("cannot watch " + *options.config_path +
                   " for changes; reload with SIGHUP or drl reload");
      watcher.reset();
    }
  }

  bool stopping = false;
  const auto shutdown = [&](const char* why) {
    if (stopping) return;
    stopping = true;
    io::log_info(std::string("shutting down (") + why + ")");
    if (http_server) http_server->stop();
#ifdef DRL_WITH_ENVOY
    if (envoy_watcher) envoy_watcher->close();
    if (envoy_service) envoy_service->stop();
#endif
    server.stop();
    if (watcher) watcher->close();
    if (seed_resolver) seed_resolver->stop();
    if (driver) driver->stop();
    loop.close_handles();
  };
  loop.on_signal(SIGHUP, [&manager](int) {
    Result<ReloadOutcome> result = manager.reload("SIGHUP", false);
    if (!result.ok() && !manager.path()) io::log_warn("SIGHUP: " + result.error().message);
  });
  loop.on_signal(SIGTERM, [&shutdown](int) { shutdown("SIGTERM"); });
  loop.on_signal(SIGINT, [&shutdown](int) { shutdown("SIGINT"); });
  loop.every(kSweepIntervalMs, [&store] { store.expire(io::wall_now(), kSweepSlotsPerTick); });
  // Overrides expire and adaptive limits follow their load signals on this tick. Its own
  // lateness is the event-loop lag signal: a loop busy with other callbacks fires it late.
  io::HostCpuSampler cpu_sampler;
  core::MonoTime last_dynamic_tick = io::mono_now();
  loop.every(static_cast<std::uint64_t>(dynamic_tick_interval_ms),
             [&dynamic, &cpu_sampler, &last_dynamic_tick] {
               const core::MonoTime now = io::mono_now();
               const std::int64_t late_ns =
                   now.ns - last_dynamic_tick.ns - dynamic_tick_interval_ms * 1'000'000;
               last_dynamic_tick = now;
               LoadSamples samples;
               samples.loop_lag_ms = static_cast<double>(std::max<std::int64_t>(0, late_ns)) / 1e6;
               samples.cpu_percent = cpu_sampler.sample(now);
               dynamic.tick(now, io::wall_now(), samples);
             });
  // Says once how the start-up hold ended (the hold itself needs no tick).
  bool startup_hold_reported = startup_hold.is_open();
  loop.every(
      kStartupHoldCheckIntervalMs, [&startup_hold, &startup_hold_reported, &config, &driver] {
        const core::MonoTime now = io::mono_now();
        if (startup_hold_reported || startup_hold.holds(now)) return;
        startup_hold_reported = true;
        const std::string held = std::to_string(startup_hold.held_ms(now)) + " ms";
        const std::string checks =
            "; checks held until then: " + std::to_string(startup_hold.checks_held());
        const std::string bound =
            "[cluster] warmup_max (" + core::format_duration_ms(config.cluster.warmup_max_ms) + ")";
        bool heard_a_peer = false;
        for (const core::PeerStatus& peer : driver->snapshot().peers) {
          heard_a_peer = heard_a_peer || !peer.node_id.empty();
        }
        if (startup_hold.synced_in_time()) {
          io::log_info("counts received from a peer " + held + " after the start" + checks);
        } else if (!heard_a_peer) {
          // A cold start of the first node, or every peer down: nothing to wait for after all.
          io::log_info("no peer answered within " + bound +
                       ": deciding alone (the first node of the cluster to start, or its peers are "
                       "down)" +
                       checks);
        } else {
          io::log_warn("peers answered, but none finished sending its counts within " + bound +
                       ": deciding with the counts at hand until the sync is done (a large store: "
                       "raise warmup_max to its sync time)" +
                       checks);
        }
      });
  io::RateLimitedLog skew_log(io::LogLevel::warn, 1, 60'000);
  // Peers that list other members, said once each while they do (hard limits only: without
  // them, a difference of lists is harmless).
  std::set<std::string> other_members_said;
  if (driver) {
    loop.every(kSkewCheckIntervalMs, [&driver, &skew_threshold_ms, &skew_log, &dynamic,
                                      &other_members_said] {
      const io::ClusterSnapshot snapshot = driver->snapshot();
      const bool any_hard = has_hard_policy(*dynamic.policies());
      for (const core::PeerStatus& peer : snapshot.peers) {
        if (!any_hard || !peer.other_members) {
          other_members_said.erase(peer.address);
          continue;
        }
        if (!other_members_said.insert(peer.address).second) continue;
        io::log_warn("hard limits: peer " + peer.address +
                     (peer.node_id.empty() ? std::string() : " (" + peer.node_id + ")") +
                     " lists other members than this node; every node's peers must name the "
                     "same members (docs/replication.md, Changing the members), and each node "
                     "must place itself among them (its advertised address in the list, every "
                     "peer name resolved at its start). Until they do, "
                     "a node that has not agreed yet takes no share (drl status: "
                     "rights_members_agreed, rights_members_mismatched)");
      }
      const std::uint64_t threshold = skew_threshold_ms.load();
      for (const core::PeerStatus& peer : snapshot.peers) {
        if (peer.rtt_us >= 0 && peer.state == core::PeerState::alive &&
            static_cast<std::uint64_t>(std::abs(peer.clock_offset_ms)) > threshold) {
          skew_log.log("clock of peer " + peer.node_id + " (" + peer.address + ") is off by " +
                       std::to_string(peer.clock_offset_ms) + " ms, more than " +
                       std::to_string(threshold) +
                       " ms (a tenth of the shortest window); check NTP on both nodes");
        }
      }
    });
  }

  server.start();
  if (http_server) http_server->start();
  std::string envoy_note;
#ifdef DRL_WITH_ENVOY
  if (envoy_service) {
    envoy_note = ", Envoy rate limit service on " + envoy_service->address() + " (" +
                 envoy_service->summary() + " from " + config.envoy.config_dir + ")";
  }
#endif
  std::string cluster_note = "a single node";
  const std::string http_note =
      http_server ? ", HTTP on " + http_server->address() + " (/v1/check, /metrics, /healthz)" : "";
  if (driver) {
    cluster_note = "cluster bind " + driver->snapshot().bind_address + ", " +
                   std::to_string(node->replicator().config().seeds.size()) +
                   " peers configured, " +
                   (config.cluster.seeds.empty()
                        ? std::string()
                        : std::to_string(node->replicator().stats().seed_addresses_added) +
                              " addresses from seeds, ") +
                   std::string(core::partition_policy_name(config.cluster.partition_policy)) +
                   " partition policy" + (context.cluster_authenticated ? ", authenticated" : "");
  }
  io::log_info("drld " + context.version + " ready: node " + config.node.id + " (incarnation " +
               std::to_string(incarnation) + "), socket " + config.node.socket_path + ", " +
               std::to_string(workers) + " workers, " +
               std::to_string(config.policies->policies().size()) + " policies from " +
               options.config_path.value_or("the embedded default config") + ", " + cluster_note +
               http_note + envoy_note +
               (state_keeper ? ", counts saved to " + state_keeper->file_path() + " every " +
                                   core::format_duration_ms(config.node.state_save_interval_ms)
                             : std::string()));

  core::RightsSplit split_at_start = rights.split();
  split_at_start.rights_from_unix_ms = rights_from_unix_ms;
  log_first_hard_shares(*config.policies, split_at_start, rights.awaiting_members());
  if (state_keeper) state_keeper->start();
  loop.run();
  server.stop();
  if (state_keeper && state_keeper->stop_and_save()) {
    io::log_info(
        "[node] state_dir: counts and override records (key resets, overrides) saved "
        "to " +
        state_keeper->file_path());
  }
  io::log_info("stopped");
  return 0;
}

}  // namespace drl::daemon
