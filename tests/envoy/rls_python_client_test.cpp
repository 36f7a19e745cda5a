// tests/integration/rls_client.py, the Python client the integration tests use, against our gRPC
// server with a handler that echoes what it was sent: its command line, the request it builds
// and the JSON it prints. Skipped (77) without Debian's Python and its grpcio.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "envoy/grpc_server.hpp"

using namespace drl;
using namespace drl::envoy;

namespace {

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout
};

RunResult run_client(const std::string& arguments) {
  const std::string command = std::string(std::getenv("DRL_PYTHON")) + " " +
                              std::getenv("DRL_RLS_CLIENT") + " " + arguments + " 2>/dev/null";
  RunResult result;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// Each descriptor's status names its entries, echoes its limit override (else 10/minute) and
// its hits (the descriptor's, else the request's) as limit_remaining; "deny" is OVER_LIMIT.
RlsStatus echo(const RlsRequest& request, RlsResponse& response) {
  response.overall_code = RlsCode::ok;
  for (const RlsDescriptor& descriptor : request.descriptors) {
    RlsDescriptorStatus& status = response.statuses.emplace_back();
    std::string name;
    bool deny = false;
    for (const RlsEntry& entry : descriptor.entries) {
      name += (name.empty() ? "" : ",") + entry.key + "=" + entry.value;
      deny = deny || entry.value == "deny";
    }
    status.code = deny ? RlsCode::over_limit : RlsCode::ok;
    if (deny) response.overall_code = RlsCode::over_limit;
    const RlsLimitOverride limit = descriptor.limit.value_or(RlsLimitOverride{10, RlsUnit::minute});
    status.current_limit = RlsRateLimit{name, limit.requests_per_unit, limit.unit};
    status.limit_remaining =
        static_cast<std::uint32_t>(descriptor.hits_addend.value_or(request.hits_addend));
    status.duration_until_reset_ms = 1'500;
  }
  response.response_headers_to_add = {{"X-Domain", request.domain}};
  return {};
}

GrpcServerOptions loopback() {
  GrpcServerOptions options;
  options.listen = "127.0.0.1:0";
  return options;
}

bool python_client_can_run() {
  const std::string probe =
      std::string(std::getenv("DRL_PYTHON")) + " -c 'import grpc, google.protobuf' 2>/dev/null";
  return std::system(probe.c_str()) == 0;
}

}  // namespace

TEST_CASE("rls_client.py: sends the descriptors, overrides and hits it is given; prints JSON") {
  if (!python_client_can_run()) {
    MESSAGE("skipped: /usr/bin/python3 with grpcio and protobuf is needed");
    std::exit(77);
  }
  auto started = GrpcServer::start(loopback(), echo);
  REQUIRE(started.ok());
  const std::string target = "--target " + started.value()->address();

  const RunResult answered =
      run_client(target +
                 " --domain edge --hits-addend 3"
                 " --descriptor remote_address=10.0.0.1,path=/login --limit 5/hour"
                 " --descriptor-hits 0 --descriptor tenant=deny --descriptor k=v --limit 7/7");
  CHECK(answered.exit_code == 0);
  CHECK(answered.output ==
        "{\"overall_code\": \"OVER_LIMIT\", \"statuses\": ["
        "{\"code\": \"OK\", \"current_limit\": {\"name\": \"remote_address=10.0.0.1,path=/login\", "
        "\"requests_per_unit\": 5, \"unit\": \"HOUR\"}, \"limit_remaining\": 0, "
        "\"duration_until_reset_ms\": 1500}, "
        "{\"code\": \"OVER_LIMIT\", \"current_limit\": {\"name\": \"tenant=deny\", "
        "\"requests_per_unit\": 10, \"unit\": \"MINUTE\"}, \"limit_remaining\": 3, "
        "\"duration_until_reset_ms\": 1500}, "
        "{\"code\": \"OK\", \"current_limit\": {\"name\": \"k=v\", "
        "\"requests_per_unit\": 7, \"unit\": \"WEEK\"}, \"limit_remaining\": 3, "
        "\"duration_until_reset_ms\": 1500}], "
        "\"response_headers_to_add\": [{\"key\": \"X-Domain\", \"value\": \"edge\"}]}\n");
}

TEST_CASE("rls_client.py: a gRPC error is printed as JSON with exit 1; a bad command line is 2") {
  if (!python_client_can_run()) std::exit(77);
  auto started = GrpcServer::start(loopback(), echo);
  REQUIRE(started.ok());
  const std::string target = "--target " + started.value()->address();

  const RunResult refused = run_client(target + " --domain '' --descriptor k=v");
  CHECK(refused.exit_code == 1);
  CHECK(refused.output ==
        "{\"error\": {\"code\": \"INVALID_ARGUMENT\", \"message\": \"rate limit domain must not "
        "be empty\"}}\n");

  CHECK(run_client(target + " --domain edge --limit 5/hour --descriptor k=v").exit_code == 2);
  CHECK(run_client(target + " --domain edge --descriptor k").exit_code == 2);
  CHECK(run_client(target + " --domain edge --descriptor k=v --limit 5/fortnight").exit_code == 2);
}
