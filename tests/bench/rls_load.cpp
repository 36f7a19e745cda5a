// rls_load: a load generator for Envoy's rate limit service over gRPC
// (/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit), the client side of
// scripts/bench-envoy.sh (docs/benchmarks.md, "Envoy's rate limit service over gRPC").
//
// Closed loop, as drl-bench's: --streams calls are kept outstanding in all (HTTP/2 streams
// over --channels connections), a new call for each answer. Each call is one RateLimitRequest
// with --descriptors descriptors, each one entry (--key-name, "<prefix><rank>") from the same key
// generator drl-bench uses, so that the gRPC and the Unix-socket runs count the same keys.
// grpc++'s asynchronous API on completion queues, one per client thread (--threads, default 1,
// as drl-bench's one epoll thread), so that the client's share of the machine is known.
//
// Latency is from the start of a call to its completion (serialization, HTTP/2 framing, both
// ways through the kernel, the decision), in the same log-linear histogram as drl-bench. After
// --warmup, --duration is measured: calls completed in that interval count, and CPU time of
// this process and of --server-pid is read at its two ends. One JSON line (--json) or text.
//
// Why not a target of drl-bench: drl-bench drives sockets itself (one epoll loop, a framing
// encoder and an answer scanner per target); gRPC owns its sockets, framing and polling, and
// is a dependency drl-bench should not have when the meson feature 'envoy' is off.
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/duration.hpp"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "tools/bench/key_generator.hpp"
#include "tools/bench/latency_histogram.hpp"
#include "tools/bench/process_stats.hpp"
#include "wire/json_writer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using RateLimitRequest = envoy::service::ratelimit::v3::RateLimitRequest;
using RateLimitResponse = envoy::service::ratelimit::v3::RateLimitResponse;
using RateLimitService = envoy::service::ratelimit::v3::RateLimitService;

struct Options {
  std::string target;  // host:port
  std::string domain = "bench";
  std::string key_name = "key";
  std::string key_prefix = "k";
  std::uint64_t keys = 100'000;
  drl::bench::KeyDistribution distribution = drl::bench::KeyDistribution::uniform;
  double zipf_exponent = 0.99;
  std::uint64_t seed = 1;
  unsigned descriptors = 1;
  unsigned streams = 50;
  unsigned channels = 1;
  unsigned threads = 1;
  std::uint64_t duration_ms = 5000;
  std::uint64_t warmup_ms = 1000;
  std::uint64_t deadline_ms = 10'000;
  std::uint64_t connect_timeout_ms = 10'000;
  std::optional<std::int64_t> server_pid;
  std::string label;
  bool json = false;
};

// What one thread measured.
struct Tally {
  drl::bench::LatencyHistogram latency;
  std::uint64_t requests = 0;  // completed within the measured interval
  std::uint64_t ok = 0;        // ... answered OK
  std::uint64_t over_limit = 0;
  std::uint64_t errors = 0;  // ... with a gRPC status other than OK
  std::uint64_t sent = 0;    // calls started, warm-up included
};

// One outstanding call at a time: the request (its keys replaced per call), the answer, and
// the per-call state gRPC needs.
struct Slot {
  RateLimitService::Stub* stub = nullptr;
  RateLimitRequest request;
  RateLimitResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<RateLimitResponse>> reader;
  Clock::time_point started;
};

class LoadThread {
 public:
  LoadThread(const Options& options, std::vector<RateLimitService::Stub*> stubs, unsigned index,
             Clock::time_point measure_from, Clock::time_point measure_until)
      : options_(options),
        keys_(options.distribution, options.keys, options.zipf_exponent,
              options.seed * 1'000'003 + index, options.key_prefix, index, options.threads),
        measure_from_(measure_from),
        measure_until_(measure_until) {
    slots_.resize(stubs.size());
    for (std::size_t i = 0; i < stubs.size(); ++i) {
      Slot& slot = slots_[i];
      slot.stub = stubs[i];
      slot.request.set_domain(options.domain);
      for (unsigned d = 0; d < options.descriptors; ++d) {
        auto& entry = *slot.request.add_descriptors()->add_entries();
        entry.set_key(options.key_name);
      }
    }
  }

  void run() {
    for (Slot& slot : slots_) start(slot);
    std::size_t outstanding = slots_.size();
    void* tag = nullptr;
    bool ok = false;
    while (outstanding > 0 && queue_.Next(&tag, &ok)) {
      Slot& slot = *static_cast<Slot*>(tag);
      const Clock::time_point now = Clock::now();
      if (now >= measure_from_ && now < measure_until_) {
        tally_.latency.record(static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - slot.started).count()));
        ++tally_.requests;
        if (!ok || !slot.status.ok()) {
          ++tally_.errors;
          if (tally_.errors == 1) {
            std::fprintf(stderr, "rls_load: call failed: %s\n",
                         slot.status.error_message().c_str());
          }
        } else if (slot.response.overall_code() == RateLimitResponse::OVER_LIMIT) {
          ++tally_.over_limit;
        } else {
          ++tally_.ok;
        }
      }
      if (now < measure_until_) {
        start(slot);
      } else {
        --outstanding;
      }
    }
    queue_.Shutdown();
    while (queue_.Next(&tag, &ok)) {
    }
  }

  const Tally& tally() const { return tally_; }

 private:
  void start(Slot& slot) {
    for (auto& descriptor : *slot.request.mutable_descriptors()) {
      keys_.next_key(*descriptor.mutable_entries(0)->mutable_value());
    }
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->set_deadline(std::chrono::system_clock::now() +
                               std::chrono::milliseconds(options_.deadline_ms));
    slot.started = Clock::now();
    slot.reader = slot.stub->PrepareAsyncShouldRateLimit(slot.context.get(), slot.request, &queue_);
    slot.reader->StartCall();
    slot.reader->Finish(&slot.response, &slot.status, &slot);
    ++tally_.sent;
  }

  const Options& options_;
  drl::bench::KeyGenerator keys_;
  Clock::time_point measure_from_;
  Clock::time_point measure_until_;
  grpc::CompletionQueue queue_;
  std::vector<Slot> slots_;
  Tally tally_;
};

std::uint64_t duration_option(const cxxopts::ParseResult& parsed, const char* name) {
  const std::string text = parsed[name].as<std::string>();
  const std::optional<std::uint64_t> ms = drl::core::parse_duration_ms(text);
  if (!ms) throw cxxopts::exceptions::exception(std::string("--") + name + ": not a duration");
  return *ms;
}

Options parse_options(int argc, char** argv) {
  cxxopts::Options spec("rls_load",
                        "Load on Envoy's rate limit service over gRPC (docs/benchmarks.md)");
  // clang-format off
  spec.add_options()
    ("target", "host:port of the gRPC listener ([envoy] listen)", cxxopts::value<std::string>())
    ("domain", "the request's domain", cxxopts::value<std::string>()->default_value("bench"))
    ("key-name", "the entry key of every descriptor",
     cxxopts::value<std::string>()->default_value("key"))
    ("key-prefix", "entry values are PREFIX<rank>", cxxopts::value<std::string>()->default_value("k"))
    ("keys", "ranks 0 .. KEYS-1", cxxopts::value<std::uint64_t>()->default_value("100000"))
    ("distribution", "uniform or zipf", cxxopts::value<std::string>()->default_value("uniform"))
    ("seed", "of the key streams", cxxopts::value<std::uint64_t>()->default_value("1"))
    ("descriptors", "descriptors per request", cxxopts::value<unsigned>()->default_value("1"))
    ("streams", "calls outstanding in all", cxxopts::value<unsigned>()->default_value("50"))
    ("channels", "HTTP/2 connections", cxxopts::value<unsigned>()->default_value("1"))
    ("threads", "client threads (completion queues)", cxxopts::value<unsigned>()->default_value("1"))
    ("duration", "measured interval", cxxopts::value<std::string>()->default_value("5s"))
    ("warmup", "before it, not counted", cxxopts::value<std::string>()->default_value("1s"))
    ("deadline", "of each call", cxxopts::value<std::string>()->default_value("10s"))
    ("connect-timeout", "to connect each channel", cxxopts::value<std::string>()->default_value("10s"))
    ("server-pid", "read this process's CPU time over the measured interval",
     cxxopts::value<std::int64_t>())
    ("label", "copied into the report", cxxopts::value<std::string>()->default_value(""))
    ("json", "one JSON line instead of text")
    ("h,help", "this text");
  // clang-format on
  const cxxopts::ParseResult parsed = spec.parse(argc, argv);
  if (parsed.count("help") || !parsed.count("target")) {
    std::printf("%s", spec.help().c_str());
    std::exit(parsed.count("help") ? 0 : 2);
  }
  Options out;
  out.target = parsed["target"].as<std::string>();
  out.domain = parsed["domain"].as<std::string>();
  out.key_name = parsed["key-name"].as<std::string>();
  out.key_prefix = parsed["key-prefix"].as<std::string>();
  out.keys = std::max<std::uint64_t>(1, parsed["keys"].as<std::uint64_t>());
  const std::string distribution = parsed["distribution"].as<std::string>();
  if (distribution == "zipf") {
    out.distribution = drl::bench::KeyDistribution::zipf;
  } else if (distribution != "uniform") {
    throw cxxopts::exceptions::exception("--distribution: uniform or zipf");
  }
  out.seed = parsed["seed"].as<std::uint64_t>();
  out.descriptors = std::max(1U, parsed["descriptors"].as<unsigned>());
  out.streams = std::max(1U, parsed["streams"].as<unsigned>());
  out.channels = std::clamp(parsed["channels"].as<unsigned>(), 1U, out.streams);
  out.threads = std::clamp(parsed["threads"].as<unsigned>(), 1U, out.streams);
  out.duration_ms = duration_option(parsed, "duration");
  out.warmup_ms = duration_option(parsed, "warmup");
  out.deadline_ms = duration_option(parsed, "deadline");
  out.connect_timeout_ms = duration_option(parsed, "connect-timeout");
  if (parsed.count("server-pid")) out.server_pid = parsed["server-pid"].as<std::int64_t>();
  out.label = parsed["label"].as<std::string>();
  out.json = parsed.count("json") > 0;
  return out;
}

double rounded(double value, int decimals) {
  double scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  return static_cast<double>(static_cast<long long>(value * scale + 0.5)) / scale;
}

double microseconds(std::uint64_t nanoseconds) {
  return static_cast<double>(nanoseconds) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  try {
    options = parse_options(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rls_load: %s\n", error.what());
    return 2;
  }

  // As drld's gRPC server does (src/envoy/grpc_server.cpp): Debian's Abseil, built without
  // NDEBUG, would check every absl::Mutex gRPC takes for lock-order cycles, a cost of the
  // package's build, not of gRPC, that this client would add to the machine the server shares.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Each channel its own connection: without a local subchannel pool, channels to one target
  // with the same arguments share one.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<RateLimitService::Stub>> stubs;
  for (unsigned c = 0; c < options.channels; ++c) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(
        grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), arguments));
    if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                           std::chrono::milliseconds(options.connect_timeout_ms))) {
      std::fprintf(stderr, "rls_load: cannot connect to %s\n", options.target.c_str());
      return 1;
    }
    stubs.push_back(RateLimitService::NewStub(channels.back()));
  }

  const Clock::time_point begin = Clock::now();
  const Clock::time_point measure_from = begin + std::chrono::milliseconds(options.warmup_ms);
  const Clock::time_point measure_until =
      measure_from + std::chrono::milliseconds(options.duration_ms);
  // Streams go round-robin over threads, and over channels within the whole.
  std::vector<std::vector<RateLimitService::Stub*>> stubs_of_thread(options.threads);
  for (unsigned s = 0; s < options.streams; ++s) {
    stubs_of_thread[s % options.threads].push_back(stubs[s % options.channels].get());
  }
  std::vector<std::unique_ptr<LoadThread>> loads;
  for (unsigned t = 0; t < options.threads; ++t) {
    loads.push_back(
        std::make_unique<LoadThread>(options, stubs_of_thread[t], t, measure_from, measure_until));
  }
  std::vector<std::thread> threads;
  for (auto& load : loads) threads.emplace_back([&load] { load->run(); });

  std::this_thread::sleep_until(measure_from);
  const double client_cpu_from = drl::bench::own_cpu_seconds();
  std::optional<double> server_cpu_from;
  if (options.server_pid) {
    server_cpu_from = drl::bench::process_cpu_seconds(static_cast<pid_t>(*options.server_pid));
  }
  std::this_thread::sleep_until(measure_until);
  const double client_cpu = drl::bench::own_cpu_seconds() - client_cpu_from;
  std::optional<double> server_cpu;
  if (server_cpu_from) {
    if (auto until = drl::bench::process_cpu_seconds(static_cast<pid_t>(*options.server_pid))) {
      server_cpu = *until - *server_cpu_from;
    }
  }
  for (std::thread& thread : threads) thread.join();

  Tally total;
  for (const auto& load : loads) {
    const Tally& tally = load->tally();
    total.latency.merge(tally.latency);
    total.requests += tally.requests;
    total.ok += tally.ok;
    total.over_limit += tally.over_limit;
    total.errors += tally.errors;
    total.sent += tally.sent;
  }
  const double seconds = static_cast<double>(options.duration_ms) / 1000.0;
  const std::uint64_t descriptors = total.requests * options.descriptors;
  const double requests_per_s = static_cast<double>(total.requests) / seconds;
  const double descriptors_per_s = static_cast<double>(descriptors) / seconds;
  const double p50 = microseconds(total.latency.percentile_ns(0.50));
  const double p99 = microseconds(total.latency.percentile_ns(0.99));
  const double p999 = microseconds(total.latency.percentile_ns(0.999));

  if (options.json) {
    drl::wire::JsonWriter json;
    json.begin_object()
        .key("label")
        .value(options.label)
        .key("target")
        .value("grpc")
        .key("streams")
        .value(std::uint64_t{options.streams})
        .key("channels")
        .value(std::uint64_t{options.channels})
        .key("threads")
        .value(std::uint64_t{options.threads})
        .key("descriptors_per_request")
        .value(std::uint64_t{options.descriptors})
        .key("keys")
        .value(options.keys)
        .key("seconds")
        .value(seconds)
        .key("requests")
        .value(total.requests)
        .key("descriptors")
        .value(descriptors)
        .key("requests_per_s")
        .value(rounded(requests_per_s, 1))
        .key("descriptors_per_s")
        .value(rounded(descriptors_per_s, 1))
        .key("ok")
        .value(total.ok)
        .key("over_limit")
        .value(total.over_limit)
        .key("errors")
        .value(total.errors)
        .key("latency_p50_us")
        .value(rounded(p50, 1))
        .key("latency_p99_us")
        .value(rounded(p99, 1))
        .key("latency_p999_us")
        .value(rounded(p999, 1))
        .key("latency_max_us")
        .value(rounded(microseconds(total.latency.max_ns()), 1))
        .key("client_cpu_percent")
        .value(rounded(100.0 * client_cpu / seconds, 1));
    if (server_cpu) {
      json.key("server_pid")
          .value(*options.server_pid)
          .key("server_cpu_percent")
          .value(rounded(100.0 * *server_cpu / seconds, 1))
          .key("server_cpu_us_per_descriptor")
          .value(descriptors > 0 ? rounded(*server_cpu * 1e6 / static_cast<double>(descriptors), 3)
                                 : 0.0);
    }
    json.key("sent").value(total.sent);
    json.end_object();
    std::printf("%s\n", json.str().c_str());
  } else {
    std::printf(
        "%s%sgrpc %s: %u streams over %u channel(s), %u thread(s), %u descriptor(s) per "
        "request, %.1f s measured\n",
        options.label.c_str(), options.label.empty() ? "" : " ", options.target.c_str(),
        options.streams, options.channels, options.threads, options.descriptors, seconds);
    std::printf(
        "  %12.0f descriptors/s  %12.0f requests/s   ok %llu, over limit %llu, errors %llu\n",
        descriptors_per_s, requests_per_s, static_cast<unsigned long long>(total.ok),
        static_cast<unsigned long long>(total.over_limit),
        static_cast<unsigned long long>(total.errors));
    std::printf("  latency us: p50 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p50, p99, p999,
                microseconds(total.latency.max_ns()));
    std::printf("  cpu: client %.0f%% of a core", 100.0 * client_cpu / seconds);
    if (server_cpu) {
      std::printf(", server %.0f%% (%.2f us per descriptor)", 100.0 * *server_cpu / seconds,
                  descriptors > 0 ? *server_cpu * 1e6 / static_cast<double>(descriptors) : 0.0);
    }
    std::printf("\n");
  }
  return total.errors == 0 && total.requests > 0 ? 0 : 1;
}
