// A client for drld's Unix socket (the client protocol, docs/protocol.md).
//
// Blocking, one connection per Client. Not thread-safe: use one Client per thread, or guard it.
// Every call fails with an Error rather than throwing; after an io_error or protocol_error the
// connection is closed and the Client must be reconnected.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "drl/decision.hpp"
#include "drl/override.hpp"
#include "drl/result.hpp"
#include "drl/status.hpp"

namespace drl {

class Client {
 public:
  struct Options {
    std::chrono::milliseconds timeout{5000};  // per send and per receive
  };

  // $DRL_SOCKET if set, else /run/drl/drld.sock.
  static std::string default_socket_path();

  static Result<Client> connect(const std::string& socket_path);
  static Result<Client> connect(const std::string& socket_path, Options options);

  Client(Client&& other) noexcept;
  Client& operator=(Client&& other) noexcept;
  ~Client();

  // One item. `detail` asks for every limit that applied in Decision::limits.
  Result<Decision> check(const CheckRequest& request, bool detail = false);
  // Several items decided together: admitted only if all are, and then all are counted.
  Result<Decision> check_all(std::span<const CheckRequest> items, bool detail = false);
  // Independent checks in one round trip; one result per check, in order.
  Result<std::vector<Result<Decision>>> check_batch(std::span<const CheckRequest> checks,
                                                    bool detail = false);

  // Pipelining: send any number of checks without waiting, then receive the answers, which
  // come in the order the checks were sent. Returns the request id.
  Result<std::uint64_t> send_check(const CheckRequest& request, bool detail = false);
  Result<Decision> receive_decision();

  Result<std::string> ping();         // the server's version
  Result<std::string> reload();       // the server's message about the new config
  Result<std::string> status_json();  // the server's status as a JSON object
  // The same, as fields and tables (e.g. "peers") of text values.
  Result<StatusReport> status();
  // Every counter `request` resolves to, cluster-wide and per origin. Counts nothing.
  Result<std::vector<CounterState>> inspect(const CheckRequest& request);
  Result<std::string> inspect_json(const CheckRequest& request);

  // Runtime overrides, cluster-wide (docs/dynamic-limits.md). Errors: unknown_policy (a policy
  // the configuration does not have); invalid_argument with the reason (a tier, endpoint or
  // window the policy does not have, a field out of bounds, the override table full);
  // key_too_long (a key above 256 bytes); empty_key; malformed_request (e.g. no ttl_ms).
  Result<OverrideInfo> override_set(const OverrideSpec& spec);
  Result<std::vector<OverrideInfo>> override_list();
  Result<std::string> override_list_json();
  // Returns how many overrides were cleared (0 or 1 for a scope).
  Result<std::uint64_t> override_clear(const OverrideScopeSpec& scope);
  Result<std::uint64_t> override_clear_all();
  // Forgets what the key of `scope` has counted so far in its current windows, on every node
  // (kind "reset"; `forgotten` says what, per counter). Policy and key are required (a key of
  // at most 256 bytes); tier and endpoint as a check names them, each left empty for all of
  // them; no window. Errors: those of override_set, and invalid_argument for a tier or
  // endpoint the policy does not define.
  Result<OverrideInfo> key_reset(const OverrideScopeSpec& scope, std::string_view reason = {});
  // The application's latest value of a load signal; a policy with [policy.adaptive]
  // signal = "reported:NAME" follows it.
  Result<Done> report(std::string_view signal, double value);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace drl
