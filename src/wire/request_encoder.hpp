// Client side of the client protocol: requests as frames appended to a buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "drl/decision.hpp"

namespace drl::wire {

// One check; several items are decided together (all admit or nothing is counted).
void encode_check_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> items,
                          bool detail);

// Independent one-item checks in one message, answered in one message.
void encode_batch_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> checks,
                          bool detail);

// What one policy and key resolve to, with every origin's counts.
void encode_inspect_request(std::string& out, std::uint64_t id, const CheckRequest& item);

// An operation without arguments: "ping", "reload", "status".
void encode_op_request(std::string& out, std::uint64_t id, std::string_view op);

}  // namespace drl::wire
