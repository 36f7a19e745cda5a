#include "envoy/grpc_server.hpp"

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "envoy/rls_proto_codec.hpp"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace drl::envoy {
namespace {

using PbRateLimitService = ::envoy::service::ratelimit::v3::RateLimitService;
using PbHealth = ::grpc::health::v1::Health;
using PbHealthCheckRequest = ::grpc::health::v1::HealthCheckRequest;
using PbHealthCheckResponse = ::grpc::health::v1::HealthCheckResponse;

// The services a health check may name: the server as a whole ("") and the rate limit service.
constexpr std::string_view kRateLimitServiceName = "envoy.service.ratelimit.v3.RateLimitService";

// A protobuf message from a call's raw bytes.
template <class Message>
bool parse_message(const grpc::ByteBuffer& bytes, Message& message) {
  grpc::ByteBuffer slices(bytes);  // shares the slices, copies no bytes
  grpc::ProtoBufferReader reader(&slices);
  return reader.status().ok() && message.ParseFromZeroCopyStream(&reader);
}

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
    case RlsCallOutcome::internal:
      return "internal";
  }
  return "unknown";
}

struct GrpcServer::Impl {
  // ShouldRateLimit on raw bytes: a request that does not parse is then ours to answer
  // (INVALID_ARGUMENT, counted as malformed) rather than gRPC's (INTERNAL, uncounted).
  using Service = PbRateLimitService::WithRawMethod_ShouldRateLimit<PbRateLimitService::Service>;
  // Health/Check on the same queues (Watch is not declared: gRPC answers it UNIMPLEMENTED). (gRPC's
  // own health service, EnableDefaultHealthCheckService, uses the callback API, whose threads
  // then poll the connections too: a third of the throughput went in handing calls between
  // them, docs/benchmarks.md.)
  using HealthService = PbHealth::WithRawMethod_Check<PbHealth::Service>;

  enum class Method : std::uint8_t { should_rate_limit, health_check };

  // One call at a time, on one thread's queue: asks gRPC for a call of its method, answers it
  // when it comes, and asks again. Its address is the tag of each of its operations.
  struct Slot {
    Slot(Impl& impl_, std::size_t queue_, Method method_)
        : impl(impl_), queue(queue_), method(method_) {}

    void ask_for_call() {
      context = std::make_unique<grpc::ServerContext>();
      writer = std::make_unique<grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>>(context.get());
      request.Clear();
      response.Clear();
      answering = false;
      Queue& own = *impl.queues[queue];
      std::lock_guard<std::mutex> guard(own.mutex);
      if (own.shut_down) return;  // stopping: this slot takes no more calls
      grpc::ServerCompletionQueue* cq = own.queue.get();
      switch (method) {
        case Method::should_rate_limit:
          impl.service.RequestShouldRateLimit(context.get(), &request, writer.get(), cq, cq, this);
          return;
        case Method::health_check:
          impl.health_service.RequestCheck(context.get(), &request, writer.get(), cq, cq, this);
          return;
      }
    }

    // An operation of this slot completed: `ok` is false when the server is shutting down
    // (no call came) or the answer could not be sent (the client went away).
    void on_completed(bool ok) {
      if (!answering) {
        if (!ok) return;  // the server is shutting down
        answering = true;
        const grpc::Status status = method == Method::should_rate_limit
                                        ? impl.serve(*context, request, response)
                                        : impl.check_health(request, response);
        if (status.ok()) {
          writer->Finish(response, status, this);
        } else {
          writer->FinishWithError(status, this);
        }
        return;
      }
      ask_for_call();
    }

    Impl& impl;
    const std::size_t queue;
    const Method method;
    std::unique_ptr<grpc::ServerContext> context;  // one per call
    std::unique_ptr<grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>> writer;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    bool answering = false;
  };

  // A completion queue and the thread that polls it. No operation may start on a queue once it
  // is shut down: `shut_down` is set, under the mutex, before it is.
  struct Queue {
    std::unique_ptr<grpc::ServerCompletionQueue> queue;
    std::mutex mutex;
    bool shut_down = false;
    std::thread thread;
  };

  Impl(const GrpcServerOptions& options, RlsHandler handler_)
      : handler(std::move(handler_)),
        clock(options.clock),
        shutdown_grace_ms(options.shutdown_grace_ms) {}

  grpc::Status serve(const grpc::ServerContext& context, const grpc::ByteBuffer& request,
                     grpc::ByteBuffer& response);
  grpc::Status check_health(const grpc::ByteBuffer& request, grpc::ByteBuffer& response) const;

  // The loop of a queue's thread: every event of the queue goes to the slot it belongs to.
  void poll(std::size_t index) {
    void* tag = nullptr;
    bool ok = false;
    while (queues[index]->queue->Next(&tag, &ok)) static_cast<Slot*>(tag)->on_completed(ok);
  }

  // Shuts every queue down (no operation starts on it after) and waits until its thread has
  // taken every event left; a queue without a thread is drained here.
  void close_queues() {
    for (auto& own : queues) {
      {
        std::lock_guard<std::mutex> guard(own->mutex);
        if (own->shut_down) continue;
        own->shut_down = true;
        own->queue->Shutdown();
      }
      if (own->thread.joinable()) {
        own->thread.join();
      } else {
        void* tag = nullptr;
        bool ok = false;
        while (own->queue->Next(&tag, &ok)) {
        }
      }
    }
  }

  RlsHandler handler;
  std::function<std::chrono::system_clock::time_point()> clock;
  std::uint64_t shutdown_grace_ms;
  std::string address;
  std::uint16_t port = 0;
  RlsCallCounters counters;
  Service service;
  HealthService health_service;
  // gRPC wants the server shut down and destroyed before its queues: declared after them.
  std::vector<std::unique_ptr<Queue>> queues;  // sized once, before the server starts
  std::unique_ptr<grpc::Server> server;
  std::vector<std::unique_ptr<Slot>> slots;  // use the queues and the server
};

grpc::Status GrpcServer::Impl::serve(const grpc::ServerContext& context,
                                     const grpc::ByteBuffer& request, grpc::ByteBuffer& response) {
  // A call whose client has given up is not decided: its hits would count for an answer that no
  // one reads. A call without a deadline has time_point::max().
  const auto now = clock ? clock() : std::chrono::system_clock::now();
  if (context.deadline() <= now) {
    counters.count(RlsCallOutcome::deadline_exceeded);
    return {grpc::StatusCode::DEADLINE_EXCEEDED, "the call arrived past its deadline"};
  }

  PbRateLimitRequest pb_request;
  if (!parse_message(request, pb_request)) {
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

// SERVING for the server as a whole ("") and for the rate limit service by name, as long as the
// server takes calls (a stopping server takes none); NOT_FOUND for another service, as gRPC's
// health checking protocol says.
grpc::Status GrpcServer::Impl::check_health(const grpc::ByteBuffer& request,
                                            grpc::ByteBuffer& response) const {
  PbHealthCheckRequest pb_request;
  if (!parse_message(request, pb_request)) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "the request is not a HealthCheckRequest"};
  }
  if (!pb_request.service().empty() && pb_request.service() != kRateLimitServiceName) {
    return {grpc::StatusCode::NOT_FOUND, "no service " + pb_request.service() + " here"};
  }
  PbHealthCheckResponse pb_response;
  pb_response.set_status(PbHealthCheckResponse::SERVING);
  bool own_buffer = false;
  return grpc::SerializationTraits<PbHealthCheckResponse>::Serialize(pb_response, &response,
                                                                     &own_buffer);
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
  // grpc.health.v1.Health/Check: SERVING while the server runs, for Envoy's grpc_health_check on
  // the rate limit cluster and Kubernetes' grpc probes.
  builder.RegisterService(&impl->health_service);
  grpc::EnableDefaultHealthCheckService(false);  // ours instead (a process-wide setting)
  const std::size_t threads =
      std::clamp<std::size_t>(options.threads, 1, bounds::rls_server_threads_max);
  for (std::size_t i = 0; i < threads; ++i) {
    impl->queues.push_back(std::make_unique<Impl::Queue>());
    impl->queues.back()->queue = builder.AddCompletionQueue();
  }
  builder.SetMaxReceiveMessageSize(static_cast<int>(bounds::rls_request_bytes_max));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(bounds::rls_streams_per_connection_max));
  // gRPC sets SO_REUSEPORT by default: a second server on the port would share the calls.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (!impl->server || bound_port == 0) {
    if (impl->server) impl->server->Shutdown();
    impl->server.reset();
    // No operation was started on the queues: destroying one shuts it down. (Shutdown() would
    // log that a server, which gRPC built and dropped, still holds it.)
    impl->queues.clear();
    return Error{Errc::io_error, "cannot listen on " + options.listen +
                                     ": the address is in use or not this host's (gRPC logs why)"};
  }
  impl->port = static_cast<std::uint16_t>(bound_port);
  impl->address = host + ":" + std::to_string(bound_port);
  // Each thread answers the calls of its own queue, on the thread that polled them: no hand-off
  // between threads per call.
  for (std::size_t q = 0; q < threads; ++q) {
    for (std::size_t k = 0; k < bounds::rls_calls_per_thread; ++k) {
      impl->slots.push_back(
          std::make_unique<Impl::Slot>(*impl, q, Impl::Method::should_rate_limit));
    }
    for (std::size_t k = 0; k < bounds::health_checks_per_thread; ++k) {
      impl->slots.push_back(std::make_unique<Impl::Slot>(*impl, q, Impl::Method::health_check));
    }
  }
  for (auto& slot : impl->slots) slot->ask_for_call();
  for (std::size_t q = 0; q < threads; ++q) {
    impl->queues[q]->thread = std::thread([raw = impl.get(), q] { raw->poll(q); });
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

void GrpcServer::stop() {
  if (!impl_->server) return;
  // Calls not yet taken are refused; calls in flight finish, or are cancelled at the grace
  // time. The threads keep polling meanwhile: the answers of calls in flight go through them.
  impl_->server->Shutdown(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(impl_->shutdown_grace_ms));
  impl_->close_queues();
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
