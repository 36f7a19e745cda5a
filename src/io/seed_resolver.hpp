// [cluster] seeds: host names (a DNS name with an address per node, such as a Kubernetes
// headless service) resolved to every address they have, again every interval, so that nodes
// that come later are found through the same name. Lookups run on libuv's thread pool, never on
// the loop thread; each answer is handed to a callback on the loop thread. The first resolution,
// at start, is the daemon's (io::resolve_addresses), before the loop runs.
#pragma once

#include <netdb.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/main_loop.hpp"

namespace drl::io {

class SeedResolver {
 public:
  // The addresses `seed` resolves to now (on the loop thread). Not called when a lookup fails.
  using Found = std::function<void(const std::string& seed, const std::vector<std::string>&)>;

  // `family`: the bound socket's (AF_INET or AF_INET6), so that every address is reachable.
  SeedResolver(MainLoop& loop, std::vector<std::string> seeds, int family,
               std::uint64_t interval_ms, Found found);
  ~SeedResolver();  // stop()
  SeedResolver(const SeedResolver&) = delete;
  SeedResolver& operator=(const SeedResolver&) = delete;

  void start();  // loop thread: the first round one interval from now
  void stop();   // loop thread: no callback after this; lookups in flight are dropped

  std::uint64_t lookups() const { return lookups_; }
  std::uint64_t errors() const { return errors_; }  // lookups that failed (logged once a name)

 private:
  struct Timer;
  struct Lookup;
  void round();
  void answered(const std::string& seed, int status, const ::addrinfo* found);

  MainLoop& loop_;
  std::vector<std::string> seeds_;
  int family_;
  std::uint64_t interval_ms_;
  Found found_;
  Timer* timer_ = nullptr;            // freed by its close callback
  std::vector<Lookup*> in_flight_;    // each freed by its own callback
  std::vector<std::string> failing_;  // seeds whose last lookup failed (logged once)
  std::uint64_t lookups_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace drl::io
