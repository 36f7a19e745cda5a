// Ask the local drld before doing the work of a request (docs/integration.md).
// Build: g++ -std=c++20 example.cpp -ldrl -ltomlplusplus -lxxhash -pthread
#include <drl/client.hpp>

#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  const std::string socket = argc > 1 ? argv[1] : drl::Client::default_socket_path();
  // One connection, kept open and reused for every check (a Client is not thread-safe: one
  // per thread, or a pool).
  auto client = drl::Client::connect(socket);
  if (!client.ok()) {
    std::fprintf(stderr, "drld unreachable: %s\n", client.error().message.c_str());
    return 2;  // fail open or closed: the application decides
  }
  for (int request = 1; request <= 6; ++request) {
    auto decision = client->check({.policy = "demo", .key = "user-42"});
    if (!decision.ok()) {
      std::fprintf(stderr, "check failed: %s\n", decision.error().message.c_str());
      return 2;
    }
    if (decision->allowed) {
      std::printf("request %d: allowed, %llu left\n", request,
                  static_cast<unsigned long long>(decision->remaining));
    } else {
      // Answer 429 with Retry-After in whole seconds, rounded up.
      std::printf("request %d: denied, retry after %llu s\n", request,
                  static_cast<unsigned long long>((decision->retry_after_ms + 999) / 1000));
    }
  }
  return 0;
}
