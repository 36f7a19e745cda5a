#include "tools/bench/redis_script_protocol.hpp"

#include <utility>

namespace drl::bench {

RedisScriptProtocol::RedisScriptProtocol(std::string script_sha, std::uint64_t limit,
                                         std::uint64_t window_ms, std::uint32_t cost)
    : script_sha_(std::move(script_sha)),
      limit_(std::to_string(limit)),
      window_ms_(std::to_string(window_ms)),
      cost_(std::to_string(cost)) {}

void RedisScriptProtocol::append_request(std::string& out, KeyGenerator& keys) {
  keys.next_key(key_);
  append_resp_command(out, {"EVALSHA", script_sha_, "1", key_, limit_, window_ms_, cost_});
}

AnswerScan RedisScriptProtocol::scan_answer(std::string_view bytes, AnswerTally& tally) {
  const RespParse parsed = parse_resp(bytes, reply_);
  switch (parsed.status) {
    case RespParse::Status::incomplete:
      return {};
    case RespParse::Status::malformed:
      return {AnswerScan::Status::malformed, 0};
    case RespParse::Status::complete:
      break;
  }
  if (reply_.type == RespValue::Type::array && !reply_.elements.empty() &&
      reply_.elements[0].type == RespValue::Type::integer) {
    ++(reply_.elements[0].integer == 1 ? tally.allowed : tally.denied);
  } else {
    ++tally.errors;
  }
  return {AnswerScan::Status::complete, parsed.bytes};
}

}  // namespace drl::bench
