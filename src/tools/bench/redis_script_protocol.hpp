// Redis running a limiter script: one EVALSHA per check (RESP), answered with
// {allowed, remaining, reset_after_ms}. The script is loaded once (SCRIPT LOAD) before the run.
#pragma once

#include <string>

#include "tools/bench/resp_reader.hpp"
#include "tools/bench/target_protocol.hpp"

namespace drl::bench {

class RedisScriptProtocol final : public TargetProtocol {
 public:
  RedisScriptProtocol(std::string script_sha, std::uint64_t limit, std::uint64_t window_ms,
                      std::uint32_t cost);

  void append_request(std::string& out, KeyGenerator& keys) override;
  AnswerScan scan_answer(std::string_view bytes, AnswerTally& tally) override;
  std::uint32_t checks_per_request() const override { return 1; }

 private:
  std::string script_sha_;
  std::string limit_;
  std::string window_ms_;
  std::string cost_;
  std::string key_;
  RespValue reply_;
};

}  // namespace drl::bench
