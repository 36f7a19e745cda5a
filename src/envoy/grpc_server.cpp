#include "envoy/grpc_server.hpp"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <exception>
#include <utility>

#include "envoy/rls_proto_codec.hpp"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"

namespace drl::envoy {
namespace {

using PbRateLimitService = ::envoy::service::ratelimit::v3::RateLimitService;

grpc::Status to_grpc_status(const RlsStatus& status) {
  switch (status.code) {
    case RlsStatusCode::ok:
      return grpc::Status::OK;
    case RlsStatusCode::invalid_argument:
      return {grpc::StatusCode::INVALID_ARGUMENT, status.message};
    case RlsStatusCode::unavailable:
      return {grpc::StatusCode::UNAVAILABLE, status.message};
  }
  return {grpc::StatusCode::INTERNAL, "unknown status code"};
}

// "host:port" or "[v6]:port", the port a number up to 65535. What gRPC itself accepts besides
// (unix:, URIs) is refused: the listen address is a TCP address.
bool parse_listen(const std::string& listen, std::string& host, std::uint16_t& port) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  host = listen.substr(0, colon);
  const std::string port_text = listen.substr(colon + 1);
  if (port_text.size() > 5) return false;
  unsigned value = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  if (host.front() == '[') return host.size() > 2 && host.back() == ']';
  return host.find_first_of(":/[]") == std::string::npos;
}

}  // namespace

std::string_view rls_call_outcome_name(RlsCallOutcome outcome) {
  switch (outcome) {
    case RlsCallOutcome::answered:
      return "answered";
    case RlsCallOutcome::invalid_argument:
      return "invalid_argument";
    case RlsCallOutcome::malformed:
      return "malformed";
    case RlsCallOutcome::unavailable:
      return "unavailable";
    case RlsCallOutcome::deadline_exceeded:
      return "deadline_exceeded";
    case RlsCallOutcome::cancelled:
      return "cancelled";
    case RlsCallOutcome::internal:
      return "internal";
  }
  return "unknown";
}

struct GrpcServer::Impl {
  // ShouldRateLimit on raw bytes: a request that does not parse is then ours to answer
  // (INVALID_ARGUMENT, counted as malformed) rather than gRPC's (INTERNAL, uncounted).
  class Service final : public PbRateLimitService::WithRawCallbackMethod_ShouldRateLimit<
                            PbRateLimitService::Service> {
   public:
    explicit Service(Impl& impl) : impl_(impl) {}

    grpc::ServerUnaryReactor* ShouldRateLimit(grpc::CallbackServerContext* context,
                                              const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response) override {
      grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
      reactor->Finish(impl_.serve(*context, *request, *response));
      return reactor;
    }

   private:
    Impl& impl_;
  };

  Impl(const GrpcServerOptions& options, RlsHandler handler_)
      : handler(std::move(handler_)),
        clock(options.clock),
        shutdown_grace_ms(options.shutdown_grace_ms) {}

  grpc::Status serve(const grpc::CallbackServerContext& context, const grpc::ByteBuffer& request,
                     grpc::ByteBuffer& response);

  RlsHandler handler;
  std::function<std::chrono::system_clock::time_point()> clock;
  std::uint64_t shutdown_grace_ms;
  std::string address;
  std::uint16_t port = 0;
  RlsCallCounters counters;
  Service service{*this};
  std::unique_ptr<grpc::Server> server;  // uses the members above: declared last
};

grpc::Status GrpcServer::Impl::serve(const grpc::CallbackServerContext& context,
                                     const grpc::ByteBuffer& request, grpc::ByteBuffer& response) {
  // A call whose client has given up is not decided: its hits would count for an answer that no
  // one reads. A call without a deadline has time_point::max().
  const auto now = clock ? clock() : std::chrono::system_clock::now();
  if (context.deadline() <= now) {
    counters.count(RlsCallOutcome::deadline_exceeded);
    return {grpc::StatusCode::DEADLINE_EXCEEDED, "the call arrived past its deadline"};
  }
  if (context.IsCancelled()) {
    counters.count(RlsCallOutcome::cancelled);
    return {grpc::StatusCode::CANCELLED, "the call was cancelled"};
  }

  PbRateLimitRequest pb_request;
  grpc::ByteBuffer request_slices(request);  // shares the slices, copies no bytes
  grpc::ProtoBufferReader reader(&request_slices);
  if (!reader.status().ok() || !pb_request.ParseFromZeroCopyStream(&reader)) {
    counters.count(RlsCallOutcome::malformed);
    return {grpc::StatusCode::INVALID_ARGUMENT, "the request is not a RateLimitRequest"};
  }
  RlsRequest plain_request;
  RlsStatus status = decode_request(pb_request, plain_request);
  if (!status.ok()) {
    counters.count(RlsCallOutcome::invalid_argument);
    return to_grpc_status(status);
  }

  RlsResponse plain_response;
  try {
    status = handler(plain_request, plain_response);
  } catch (const std::exception& error) {
    counters.count(RlsCallOutcome::internal);
    return {grpc::StatusCode::INTERNAL, std::string("the handler failed: ") + error.what()};
  } catch (...) {
    counters.count(RlsCallOutcome::internal);
    return {grpc::StatusCode::INTERNAL, "the handler failed"};
  }
  if (!status.ok()) {
    counters.count(status.code == RlsStatusCode::invalid_argument ? RlsCallOutcome::invalid_argument
                                                                  : RlsCallOutcome::unavailable);
    return to_grpc_status(status);
  }

  PbRateLimitResponse pb_response;
  encode_response(plain_response, pb_response);
  bool own_buffer = false;
  grpc::Status serialized = grpc::SerializationTraits<PbRateLimitResponse>::Serialize(
      pb_response, &response, &own_buffer);
  if (!serialized.ok()) {
    counters.count(RlsCallOutcome::internal);
    return serialized;
  }
  counters.count(RlsCallOutcome::answered);
  return grpc::Status::OK;
}

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() {
  stop();
}

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(const GrpcServerOptions& options,
                                                      RlsHandler handler) {
  std::string host;
  std::uint16_t port = 0;
  if (!parse_listen(options.listen, host, port)) {
    return Error{Errc::io_error,
                 "cannot listen on \"" + options.listen + "\": not host:port or [v6]:port"};
  }
  auto impl = std::make_unique<Impl>(options, std::move(handler));

  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock detection on: every
  // lock gRPC takes then updates a process-wide graph of lock orders (about a tenth of drld's CPU
  // per call under perf, docs/benchmarks.md). drl's own code takes no absl::Mutex; gRPC's lock
  // order is gRPC's to test. Process-wide, and idempotent.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &bound_port);
  builder.RegisterService(&impl->service);
  // grpc.health.v1.Health: SERVING while the server runs, for Envoy's grpc_health_check on the
  // rate limit cluster and Kubernetes' grpc probes. gRPC adds it at BuildAndStart.
  grpc::EnableDefaultHealthCheckService(true);
  builder.SetMaxReceiveMessageSize(static_cast<int>(bounds::rls_request_bytes_max));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(bounds::rls_streams_per_connection_max));
  // gRPC sets SO_REUSEPORT by default: a second server on the port would share the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (!impl->server || bound_port == 0) {
    if (impl->server) impl->server->Shutdown();
    return Error{Errc::io_error, "cannot listen on " + options.listen +
                                     ": the address is in use or not this host's (gRPC logs why)"};
  }
  impl->port = static_cast<std::uint16_t>(bound_port);
  impl->address = host + ":" + std::to_string(bound_port);
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

void GrpcServer::stop() {
  if (!impl_->server) return;
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(impl_->shutdown_grace_ms));
  impl_->server->Wait();
  impl_->server.reset();
}

const std::string& GrpcServer::address() const {
  return impl_->address;
}
std::uint16_t GrpcServer::port() const {
  return impl_->port;
}
const RlsCallCounters& GrpcServer::counters() const {
  return impl_->counters;
}

}  // namespace drl::envoy
