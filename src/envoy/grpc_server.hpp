// The gRPC listener of Envoy's rate limit service: serves
// /envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit on a host:port, in plaintext HTTP/2
// (h2c, as Envoy's grpc_service to a local rate limit service speaks it). grpc++'s
// completion-queue API: a few threads (`threads`), each polling its own queue, take each call,
// decode it (envoy/rls_proto_codec.hpp), call the handler and send its answer on the thread that
// took it; a call costs no thread of its own. No gRPC type is in this header, so that its users
// (the daemon) do not compile gRPC's headers.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/bounds.hpp"
#include "drl/result.hpp"
#include "envoy/rls_status.hpp"
#include "envoy/rls_types.hpp"

namespace drl::envoy {

// Decides one request: fills `response` and returns ok, or returns why there is no answer (then
// `response` is not sent). Called from gRPC's threads, concurrently: it must be thread-safe, and
// quick, for it holds one of those threads (it must not wait on I/O).
using RlsHandler = std::function<RlsStatus(const RlsRequest& request, RlsResponse& response)>;

struct GrpcServerOptions {
  std::string listen;  // "host:port" or "[v6]:port"; port 0 picks a free one
  std::uint64_t shutdown_grace_ms = bounds::rls_shutdown_grace_ms;
  // Threads that poll gRPC's completion queues and decide the calls (1 to
  // bounds::rls_server_threads_max).
  std::size_t threads = bounds::rls_server_threads_default;
  // The wall clock (gRPC deadlines are wall times) against which a call's deadline is checked
  // when it arrives. Empty: std::chrono::system_clock::now. Tests move it.
  std::function<std::chrono::system_clock::time_point()> clock;
};

// How a call ended, for the metrics.
enum class RlsCallOutcome : std::uint8_t {
  answered,           // the handler's answer was sent
  invalid_argument,   // beyond a bound or refused by the handler: INVALID_ARGUMENT
  malformed,          // not a RateLimitRequest (bad protobuf, a string not UTF-8): INVALID_ARGUMENT
  unavailable,        // the handler had no answer: UNAVAILABLE
  deadline_exceeded,  // past its deadline when it arrived: not decided, DEADLINE_EXCEEDED
  internal,           // the handler threw (a bug): INTERNAL
};
inline constexpr std::size_t rls_call_outcome_count = 6;
std::string_view rls_call_outcome_name(RlsCallOutcome outcome);  // "answered", "malformed", ...

// Calls by outcome. A request over bounds::rls_request_bytes_max is refused by gRPC itself
// (RESOURCE_EXHAUSTED) before it is a call: it is not counted here. Readable from any thread.
struct RlsCallCounters {
  std::array<std::atomic<std::uint64_t>, rls_call_outcome_count> by_outcome{};

  void count(RlsCallOutcome outcome) {
    by_outcome[static_cast<std::size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t operator[](RlsCallOutcome outcome) const {
    return by_outcome[static_cast<std::size_t>(outcome)].load(std::memory_order_relaxed);
  }
  // The requests refused with an error: not a RateLimitRequest, beyond a bound, refused by the
  // handler (an override it cannot count, too many limited descriptors, no rules loaded).
  std::uint64_t refused() const {
    return (*this)[RlsCallOutcome::malformed] + (*this)[RlsCallOutcome::invalid_argument] +
           (*this)[RlsCallOutcome::unavailable];
  }
};

class GrpcServer {
 public:
  // Binds and serves. Errors (Errc::io_error): a malformed listen address, or one that cannot be
  // bound, in use included (SO_REUSEPORT is off: a second drld on the port fails instead of
  // sharing the calls).
  static Result<std::unique_ptr<GrpcServer>> start(const GrpcServerOptions& options,
                                                   RlsHandler handler);
  ~GrpcServer();  // stop()
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  // Refuses new calls, lets the calls in flight finish for shutdown_grace_ms, cancels those left,
  // and returns when no handler runs any more. Idempotent. Any thread but a handler's.
  void stop();

  const std::string& address() const;  // "host:port" with the port bound
  std::uint16_t port() const;
  const RlsCallCounters& counters() const;

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drl::envoy
