// The gRPC server of Envoy's rate limit service, driven by a real gRPC client over loopback
// (grpc::CreateChannel to the port it bound) and a stub handler.
#include "envoy/grpc_server.hpp"

#include <absl/synchronization/mutex.h>
#include <doctest/doctest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "core/bounds.hpp"
#include "envoy/rls_proto_codec.hpp"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

using namespace drl;
using namespace drl::envoy;
using namespace std::chrono_literals;

namespace {

using PbRateLimitService = ::envoy::service::ratelimit::v3::RateLimitService;
constexpr const char* method_path = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit";

// Answers every descriptor: OVER_LIMIT when its first value is "deny", else OK, with the
// descriptor's limit override (or 10/minute) as current limit and its hits as remaining.
struct StubHandler {
  std::atomic<int> calls{0};
  RlsRequest last_request;  // written by the handler, read after the call returned

  RlsHandler handler() {
    return [this](const RlsRequest& request, RlsResponse& response) {
      ++calls;
      last_request = request;
      response.overall_code = RlsCode::ok;
      for (const RlsDescriptor& descriptor : request.descriptors) {
        RlsDescriptorStatus& status = response.statuses.emplace_back();
        const bool deny = !descriptor.entries.empty() && descriptor.entries[0].value == "deny";
        status.code = deny ? RlsCode::over_limit : RlsCode::ok;
        if (deny) response.overall_code = RlsCode::over_limit;
        const RlsLimitOverride limit =
            descriptor.limit.value_or(RlsLimitOverride{10, RlsUnit::minute});
        status.current_limit = RlsRateLimit{"stub", limit.requests_per_unit, limit.unit};
        status.limit_remaining = static_cast<std::uint32_t>(
            descriptor.hits_addend.value_or(request.hits_addend == 0 ? 1 : request.hits_addend));
        status.duration_until_reset_ms = 1'500;
      }
      response.response_headers_to_add = {{"X-Stub", request.domain}};
      return RlsStatus{};
    };
  }
};

std::unique_ptr<GrpcServer> start_server(RlsHandler handler, GrpcServerOptions options = {}) {
  if (options.listen.empty()) options.listen = "127.0.0.1:0";
  auto started = GrpcServer::start(options, std::move(handler));
  if (!started.ok()) FAIL(started.error().message);
  return std::move(started).value();
}

PbRateLimitRequest request_of(std::size_t descriptors, const std::string& value = "v") {
  PbRateLimitRequest request;
  request.set_domain("edge");
  for (std::size_t i = 0; i < descriptors; ++i) {
    auto& entry = *request.add_descriptors()->add_entries();
    entry.set_key("k");
    entry.set_value(value);
  }
  return request;
}

class Client {
 public:
  explicit Client(const std::string& address)
      : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
        stub_(PbRateLimitService::NewStub(channel_)) {}

  // With a deadline `timeout` from now; none when timeout is 0.
  grpc::Status call(const PbRateLimitRequest& request, PbRateLimitResponse& response,
                    std::chrono::milliseconds timeout = 5s) {
    grpc::ClientContext context;
    if (timeout.count() > 0) context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->ShouldRateLimit(&context, request, &response);
  }

  // Any bytes as the request of any method, through gRPC's generic stub.
  grpc::Status call_raw(const std::string& bytes, const char* method = method_path) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(std::move(status)); });
    return done.get_future().get();
  }

  grpc::Status check_health(const std::string& service,
                            ::grpc::health::v1::HealthCheckResponse& response) {
    auto health = ::grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 5s);
    ::grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    return health->Check(&context, request, &response);
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<PbRateLimitService::Stub> stub_;
};

}  // namespace

TEST_CASE("grpc server: answers ShouldRateLimit with the handler's answer, on the port it picked") {
  StubHandler stub;
  auto server = start_server(stub.handler());
  REQUIRE(server->port() != 0);
  CHECK(server->address() == "127.0.0.1:" + std::to_string(server->port()));

  PbRateLimitRequest request = request_of(2);
  request.set_hits_addend(3);
  request.mutable_descriptors(1)->mutable_entries(0)->set_value("deny");
  request.mutable_descriptors(1)->mutable_limit()->set_requests_per_unit(5);
  request.mutable_descriptors(1)->mutable_limit()->set_unit(::envoy::type::v3::HOUR);
  request.mutable_descriptors(1)->mutable_hits_addend()->set_value(2);
  PbRateLimitResponse response;
  Client client(server->address());
  const grpc::Status status = client.call(request, response);
  REQUIRE_MESSAGE(status.ok(), status.error_message());

  CHECK(stub.calls == 1);
  CHECK(stub.last_request.domain == "edge");
  CHECK(response.overall_code() == PbRateLimitResponse::OVER_LIMIT);
  REQUIRE(response.statuses_size() == 2);
  CHECK(response.statuses(0).code() == PbRateLimitResponse::OK);
  CHECK(response.statuses(0).limit_remaining() == 3);  // the request's hits
  CHECK(response.statuses(0).current_limit().requests_per_unit() == 10);
  CHECK(response.statuses(1).code() == PbRateLimitResponse::OVER_LIMIT);
  CHECK(response.statuses(1).limit_remaining() == 2);  // the descriptor's hits
  CHECK(response.statuses(1).current_limit().requests_per_unit() == 5);
  CHECK(response.statuses(1).current_limit().unit() == PbRateLimitResponse::RateLimit::HOUR);
  CHECK(response.statuses(1).duration_until_reset().seconds() == 1);
  CHECK(response.statuses(1).duration_until_reset().nanos() == 500'000'000);
  REQUIRE(response.response_headers_to_add_size() == 1);
  CHECK(response.response_headers_to_add(0).value() == "edge");
  CHECK(server->counters()[RlsCallOutcome::answered] == 1);
}

TEST_CASE("grpc server: a call that arrives past its deadline is not decided; one without is") {
  StubHandler stub;
  GrpcServerOptions options;
  // The server's clock is an hour ahead of the client's: every deadline has passed on arrival.
  options.clock = [] { return std::chrono::system_clock::now() + 1h; };
  auto server = start_server(stub.handler(), options);
  Client client(server->address());
  PbRateLimitResponse response;

  const grpc::Status late = client.call(request_of(1), response, 10s);
  CHECK(late.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(late.error_message() == "the call arrived past its deadline");  // the server's, not ours
  CHECK(stub.calls == 0);
  CHECK(server->counters()[RlsCallOutcome::deadline_exceeded] == 1);

  const grpc::Status no_deadline = client.call(request_of(1), response, 0ms);
  CHECK(no_deadline.ok());
  CHECK(stub.calls == 1);
  CHECK(server->counters()[RlsCallOutcome::answered] == 1);
}

TEST_CASE("grpc server: too many descriptors are INVALID_ARGUMENT and never reach the handler") {
  StubHandler stub;
  auto server = start_server(stub.handler());
  Client client(server->address());
  PbRateLimitResponse response;
  const grpc::Status status =
      client.call(request_of(bounds::rls_descriptors_per_request_max + 1), response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message().find("descriptors, more than") != std::string::npos);
  CHECK(stub.calls == 0);
  CHECK(server->counters()[RlsCallOutcome::invalid_argument] == 1);

  CHECK(client.call(request_of(bounds::rls_descriptors_per_request_max), response).ok());
  CHECK(stub.calls == 1);
}

TEST_CASE("grpc server: bytes that are no RateLimitRequest are INVALID_ARGUMENT, counted") {
  StubHandler stub;
  auto server = start_server(stub.handler());
  Client client(server->address());
  const grpc::Status status =
      client.call_raw(std::string("\x0a\x64"
                                  "edge"));  // truncated
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "the request is not a RateLimitRequest");
  CHECK(server->counters()[RlsCallOutcome::malformed] == 1);

  // Over the byte bound gRPC refuses it before it is a call.
  const grpc::Status too_large =
      client.call_raw(std::string(bounds::rls_request_bytes_max + 1, '\0'));
  CHECK(too_large.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(stub.calls == 0);

  std::string bytes;
  request_of(1).SerializeToString(&bytes);
  CHECK(client.call_raw(bytes).ok());
  CHECK(stub.calls == 1);
}

TEST_CASE("grpc server: the handler's refusals and failures become gRPC statuses, counted") {
  std::atomic<int> next{0};
  auto server = start_server([&next](const RlsRequest&, RlsResponse&) -> RlsStatus {
    switch (next++) {
      case 0:
        return RlsStatus::invalid_argument("no such thing");
      case 1:
        return RlsStatus::unavailable("no configuration loaded");
      default:
        throw std::runtime_error("boom");
    }
  });
  Client client(server->address());
  PbRateLimitResponse response;
  grpc::Status status = client.call(request_of(1), response);
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(status.error_message() == "no such thing");
  status = client.call(request_of(1), response);
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(status.error_message() == "no configuration loaded");
  status = client.call(request_of(1), response);
  CHECK(status.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(status.error_message() == "the handler failed: boom");
  const RlsCallCounters& counters = server->counters();
  CHECK(counters[RlsCallOutcome::invalid_argument] == 1);
  CHECK(counters[RlsCallOutcome::unavailable] == 1);
  CHECK(counters[RlsCallOutcome::internal] == 1);
  CHECK(counters[RlsCallOutcome::answered] == 0);
}

TEST_CASE("grpc server: stop lets a call in flight finish, then refuses calls") {
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  auto server = start_server([&](const RlsRequest& request, RlsResponse& response) {
    entered.set_value();
    released.wait();
    response.statuses.resize(request.descriptors.size());
    return RlsStatus{};
  });
  const std::string address = server->address();
  Client client(address);

  PbRateLimitResponse in_flight_response;
  std::future<grpc::Status> in_flight = std::async(
      std::launch::async, [&] { return client.call(request_of(1), in_flight_response); });
  entered.get_future().wait();
  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server->stop();
    stopped = true;
  });
  std::this_thread::sleep_for(100ms);
  CHECK_FALSE(stopped);  // the call's handler still runs
  release.set_value();
  stopper.join();
  const grpc::Status status = in_flight.get();
  CHECK(status.ok());
  CHECK(in_flight_response.statuses_size() == 1);

  PbRateLimitResponse response;
  CHECK(Client(address).call(request_of(1), response, 2s).error_code() ==
        grpc::StatusCode::UNAVAILABLE);
  server->stop();  // again: nothing to do
}

TEST_CASE("grpc server: a port in use, or a listen address that is not host:port, fails start") {
  StubHandler stub;
  auto first = start_server(stub.handler());
  GrpcServerOptions options;
  options.listen = first->address();
  auto second = GrpcServer::start(options, stub.handler());
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == Errc::io_error);
  CHECK(second.error().message.find(first->address()) != std::string::npos);

  for (const char* listen : {"127.0.0.1", "127.0.0.1:", ":50051", "127.0.0.1:65536", "127.0.0.1:5x",
                             "unix:/tmp/drl.sock", "[::1:0"}) {
    CAPTURE(listen);
    options.listen = listen;
    auto refused = GrpcServer::start(options, stub.handler());
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("not host:port") != std::string::npos);
  }
}

// Debian's Abseil is built without NDEBUG: its absl::Mutex checks every lock for lock-order
// cycles, a tenth of drld's CPU per call (docs/benchmarks.md), and aborts on an inverted order.
// Once a server has started, that check is off: two locks taken in both orders are no abort.
TEST_CASE(
    "grpc server: starting turns off Abseil's debug-build lock-order checks for the process") {
  StubHandler stub;
  auto server = start_server(stub.handler());
  absl::Mutex first;
  absl::Mutex second;
  {
    absl::MutexLock hold_first(&first);
    absl::MutexLock hold_second(&second);
  }
  {
    absl::MutexLock hold_second(&second);
    absl::MutexLock hold_first(&first);
  }
  CHECK(server->port() != 0);
}

TEST_CASE("grpc server: calls beyond the slots of its threads wait for one and are all answered") {
  StubHandler stub;
  GrpcServerOptions options;
  options.threads = 3;
  auto server = start_server(stub.handler(), options);
  Client client(server->address());
  const std::size_t calls = 3 * bounds::rls_calls_per_thread + 50;
  std::vector<std::future<grpc::Status>> answers;
  for (std::size_t i = 0; i < calls; ++i) {
    answers.push_back(std::async(std::launch::async, [&] {
      PbRateLimitResponse response;
      return client.call(request_of(1), response, 20s);
    }));
  }
  std::size_t ok = 0;
  for (auto& answer : answers) ok += answer.get().ok() ? 1 : 0;
  CHECK(ok == calls);
  CHECK(server->counters()[RlsCallOutcome::answered] == calls);
}

TEST_CASE(
    "grpc server: the health service answers SERVING for the server and the rate limit "
    "service, NOT_FOUND for another, UNIMPLEMENTED for Watch") {
  StubHandler stub;
  auto server = start_server(stub.handler());
  Client client(server->address());
  using Response = ::grpc::health::v1::HealthCheckResponse;
  for (const char* service : {"", "envoy.service.ratelimit.v3.RateLimitService"}) {
    CAPTURE(service);
    Response response;
    REQUIRE(client.check_health(service, response).ok());
    CHECK(response.status() == Response::SERVING);
  }
  Response response;
  CHECK(client.check_health("some.other.Service", response).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(client.call_raw("", "/grpc.health.v1.Health/Watch").error_code() ==
        grpc::StatusCode::UNIMPLEMENTED);
  CHECK(client.call_raw("\x0a\x05", "/grpc.health.v1.Health/Check").error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(stub.calls == 0);
  CHECK(server->counters()[RlsCallOutcome::answered] == 0);  // health checks are not RLS calls
}
