#include "tools/bench/target_session.hpp"

#include "tools/bench/drl_protocol.hpp"
#include "tools/bench/redis_script_protocol.hpp"
#include "tools/bench/redis_scripts.hpp"

namespace drl::bench {

TargetSession::TargetSession(const BenchOptions& options)
    : target_(options.target),
      socket_path_(options.socket_path),
      policy_(options.policy),
      cost_(options.cost),
      batch_(options.batch),
      limit_(options.limit),
      window_ms_(options.window_ms),
      server_pid_(options.server_pid) {
  if (target_ == Target::redis_fixed) {
    script_sha_ = load_redis_script(socket_path_, fixed_window_script);
  } else if (target_ == Target::redis_sliding) {
    script_sha_ = load_redis_script(socket_path_, sliding_window_script);
  }
  if (!server_pid_ && has_snapshot()) server_pid_ = snapshot().pid;
}

std::unique_ptr<TargetProtocol> TargetSession::make_protocol() const {
  switch (target_) {
    case Target::drl:
      return std::make_unique<DrlProtocol>(policy_, cost_, batch_, DrlProtocol::Answers::decisions);
    case Target::echo:
      return std::make_unique<DrlProtocol>(policy_, cost_, batch_,
                                           DrlProtocol::Answers::opaque_frames);
    case Target::redis_fixed:
    case Target::redis_sliding:
      return std::make_unique<RedisScriptProtocol>(script_sha_, limit_, window_ms_, cost_);
  }
  return nullptr;
}

ServerSnapshot TargetSession::snapshot() const {
  return take_snapshot(target_ == Target::drl ? ServerKind::drl : ServerKind::redis, socket_path_);
}

}  // namespace drl::bench
