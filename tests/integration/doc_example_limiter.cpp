// The limiter inside the process: no daemon, no socket, counts local to the process
// (docs/integration.md). Build: g++ -std=c++20 example.cpp -ldrl -ltomlplusplus -lxxhash -pthread
#include <drl/limiter.hpp>

#include <cstdio>

int main() {
  auto limiter = drl::Limiter::from_toml(R"(
    [[policy]]
    name = "login"
    limit = 3
    window = "15m"
  )");
  if (!limiter.ok()) {
    std::fprintf(stderr, "bad config: %s\n", limiter.error().message.c_str());
    return 2;
  }
  for (int attempt = 1; attempt <= 4; ++attempt) {
    auto decision = limiter->check({.policy = "login", .key = "alice@example.com"});
    if (!decision.ok()) return 2;
    std::printf("login attempt %d: %s\n", attempt, decision->allowed ? "allowed" : "denied");
  }
  return 0;
}
