#include "daemon/daemon.hpp"

#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <memory>
#include <thread>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "daemon/config_manager.hpp"
#include "daemon/service.hpp"
#include "io/client_server.hpp"
#include "io/clock.hpp"
#include "io/file_watcher.hpp"
#include "io/log.hpp"
#include "io/unix_listener.hpp"
#include "wire/response_encoder.hpp"

#ifndef DRL_VERSION
#define DRL_VERSION "unknown"
#endif

namespace drl::daemon {
namespace {

constexpr std::uint64_t kSweepIntervalMs = 100;
constexpr std::size_t kSweepSlotsPerTick = 16384;
constexpr std::uint64_t kWatchDebounceMs = 100;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "drl-node";
  return name;
}

// The main loop's handles, owned here and closed before the loop is.
struct MainLoop {
  uv_loop_t loop{};
  uv_signal_t hangup{};
  uv_signal_t terminate{};
  uv_signal_t interrupt{};
  uv_timer_t sweep{};
  io::ClientServer* server = nullptr;
  io::FileWatcher* watcher = nullptr;
  ConfigManager* config = nullptr;
  core::CounterStore* store = nullptr;
  bool stopping = false;
};

void close_handle(uv_handle_t* handle) {
  if (!uv_is_closing(handle)) uv_close(handle, nullptr);
}

void begin_shutdown(MainLoop& main, const char* why) {
  if (main.stopping) return;
  main.stopping = true;
  io::log_info(std::string("shutting down (") + why + ")");
  main.server->stop();
  if (main.watcher != nullptr) main.watcher->close();
  close_handle(reinterpret_cast<uv_handle_t*>(&main.hangup));
  close_handle(reinterpret_cast<uv_handle_t*>(&main.terminate));
  close_handle(reinterpret_cast<uv_handle_t*>(&main.interrupt));
  close_handle(reinterpret_cast<uv_handle_t*>(&main.sweep));
}

void on_signal(uv_signal_t* handle, int signum) {
  auto& main = *static_cast<MainLoop*>(handle->data);
  if (signum == SIGHUP) {
    [[maybe_unused]] auto result = main.config->reload("SIGHUP", false);
    return;
  }
  begin_shutdown(main, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void on_sweep(uv_timer_t* timer) {
  auto& main = *static_cast<MainLoop*>(timer->data);
  main.store->expire(io::wall_now(), kSweepSlotsPerTick);
}

}  // namespace

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
  config::Config& config = loaded.value();
  if (options.socket_path) config.node.socket_path = *options.socket_path;
  if (options.workers) config.node.workers = *options.workers;
  if (options.log_level) config.node.log_level = *options.log_level;
  io::set_log_level(io::log_level_from_name(config.node.log_level));
  if (config.node.id.empty()) config.node.id = host_name();

  // A client that goes away must not kill the daemon with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);

  const std::size_t workers =
      config.node.workers != 0
          ? config.node.workers
          : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, bounds::workers_max);
  // No more shards than keys, so that every shard can hold at least one.
  const std::size_t shards =
      std::min(config.bounds.store_shards, std::bit_floor(config.bounds.max_keys));
  core::CounterStore store(core::StoreOptions{config.bounds.max_keys, shards});
  core::CheckEngine engine(store, 0);

  Result<io::UnixListener> listener = io::UnixListener::open(
      config.node.socket_path, config.node.socket_mode, config.node.socket_group, 1024);
  if (!listener.ok()) {
    std::fprintf(stderr, "drld: %s\n", listener.error().message.c_str());
    return 1;
  }

  ConfigManager manager(options.config_path, config, text);
  DaemonContext context;
  context.store = &store;
  context.engine = &engine;
  context.config = &manager;
  context.node_id = config.node.id;
  context.version = DRL_VERSION;
  context.started = io::mono_now();
  context.workers = workers;
  context.max_batch_checks = config.bounds.max_batch_checks;
  context.max_frame_bytes = config.bounds.max_request_bytes;
  for (std::size_t i = 0; i < workers; ++i) {
    context.counters.push_back(std::make_unique<ServiceCounters>());
  }

  MainLoop main;
  uv_loop_init(&main.loop);
  io::ServerOptions server_options{workers, config.bounds.max_connections,
                                   config.bounds.max_request_bytes,
                                   config.bounds.max_pending_output_bytes};
  std::string reject_frame;
  wire::ResponseEncoder(reject_frame)
      .error(0, Errc::unavailable, "too many connections (max_connections reached); try later");
  auto server = std::make_unique<io::ClientServer>(
      &main.loop, listener->fd(), server_options,
      [&context](std::size_t worker) { return std::make_unique<Service>(context, worker); },
      reject_frame);
  context.server = &server->counters();
  main.server = server.get();
  main.config = &manager;
  main.store = &store;

  for (auto [handle, signum] :
       {std::pair{&main.hangup, SIGHUP}, std::pair{&main.terminate, SIGTERM},
        std::pair{&main.interrupt, SIGINT}}) {
    uv_signal_init(&main.loop, handle);
    handle->data = &main;
    uv_signal_start(handle, on_signal, signum);
  }
  uv_timer_init(&main.loop, &main.sweep);
  main.sweep.data = &main;
  uv_timer_start(&main.sweep, on_sweep, kSweepIntervalMs, kSweepIntervalMs);

  std::unique_ptr<io::FileWatcher> watcher;
  if (options.config_path && config.node.watch_config) {
    watcher = std::make_unique<io::FileWatcher>(
        &main.loop, *options.config_path,
        [&manager] { [[maybe_unused]] auto result = manager.reload("file change", true); },
        kWatchDebounceMs);
    if (const int status = watcher->start(); status != 0) {
      io::log_warn("cannot watch " + *options.config_path + " for changes (" + uv_strerror(status) +
                   "); reload with SIGHUP or drl reload");
      watcher.reset();
    }
  }
  main.watcher = watcher.get();

  server->start();
  io::log_info("drld " + context.version + " ready: node " + config.node.id + ", socket " +
               config.node.socket_path + ", " + std::to_string(workers) + " workers, " +
               std::to_string(config.policies->policies().size()) + " policies from " +
               options.config_path.value_or("the embedded default config"));

  uv_run(&main.loop, UV_RUN_DEFAULT);
  // Every handle is closed by begin_shutdown; run once more to deliver the close callbacks.
  if (watcher) watcher->close();
  uv_run(&main.loop, UV_RUN_DEFAULT);
  server.reset();
  const int closed = uv_loop_close(&main.loop);
  if (closed != 0) io::log_warn("main loop closed with handles still open");
  io::log_info("stopped");
  return 0;
}

}  // namespace drl::daemon
