// Client side of the client protocol: requests as frames appended to a buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "drl/decision.hpp"
#include "drl/override.hpp"

namespace drl::wire {

// One check; several items are decided together (all admit or nothing is counted).
void encode_check_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> items,
                          bool detail);

// Independent one-item checks in one message, answered in one message.
void encode_batch_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> checks,
                          bool detail);

// What one policy and key resolve to, with every origin's counts.
void encode_inspect_request(std::string& out, std::uint64_t id, const CheckRequest& item);

// Op override_set: `spec` should have exactly one of limit and factor_permille (both or neither
// are encoded as given, and refused by the server).
void encode_override_set_request(std::string& out, std::uint64_t id, const OverrideSpec& spec);

// Op key_reset: the check of `scope` (policy, key, optionally tier and endpoint).
void encode_key_reset_request(std::string& out, std::uint64_t id, const OverrideScopeSpec& scope,
                              std::string_view reason);

// Op override_clear: the one scope, or with `all` every active override (scope ignored).
void encode_override_clear_request(std::string& out, std::uint64_t id,
                                   const OverrideScopeSpec& scope, bool all);

// Op report: the application's latest value of a load signal.
void encode_report_request(std::string& out, std::uint64_t id, std::string_view signal,
                           double value);

// An operation without arguments: "ping", "reload", "status", "override_list".
void encode_op_request(std::string& out, std::uint64_t id, std::string_view op);

}  // namespace drl::wire
