// What a handler of Envoy's rate limit service says besides its answer: ok, or why there is no
// answer. No gRPC types, so that the decision logic does not depend on gRPC; the server
// (envoy/grpc_server.hpp) sends it as the gRPC status of the same name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace drl::envoy {

enum class RlsStatusCode : std::uint8_t {
  ok,
  invalid_argument,  // the request is refused as it is: a bound, a missing domain (the message
                     // says which); sending it again does not help
  unavailable,       // no answer now (e.g. no configuration loaded); a retry may get one
};

// The gRPC name of the code: "OK", "INVALID_ARGUMENT", "UNAVAILABLE".
constexpr std::string_view rls_status_code_name(RlsStatusCode code) {
  switch (code) {
    case RlsStatusCode::ok:
      return "OK";
    case RlsStatusCode::invalid_argument:
      return "INVALID_ARGUMENT";
    case RlsStatusCode::unavailable:
      return "UNAVAILABLE";
  }
  return "UNKNOWN";
}

struct RlsStatus {
  RlsStatusCode code = RlsStatusCode::ok;
  std::string message;  // empty when ok

  bool ok() const { return code == RlsStatusCode::ok; }

  static RlsStatus invalid_argument(std::string message) {
    return {RlsStatusCode::invalid_argument, std::move(message)};
  }
  static RlsStatus unavailable(std::string message) {
    return {RlsStatusCode::unavailable, std::move(message)};
  }
};

}  // namespace drl::envoy
