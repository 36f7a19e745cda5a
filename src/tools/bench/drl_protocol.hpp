// The drl client protocol (docs/protocol.md): a check, or a batch of checks, per request frame,
// written with the library's request encoder and read with its response decoder, as any client
// built on libdrl's wire code would. The echo target uses the same request frames and only
// recognises answer frames, whatever they hold.
#pragma once

#include <string>
#include <vector>

#include "drl/decision.hpp"
#include "tools/bench/target_protocol.hpp"

namespace drl::bench {

class DrlProtocol final : public TargetProtocol {
 public:
  enum class Answers { decisions, opaque_frames };

  // batch == 1 sends op "check"; above, op "batch" with `batch` checks.
  DrlProtocol(std::string policy, std::uint32_t cost, std::uint32_t batch, Answers answers);

  void append_request(std::string& out, KeyGenerator& keys) override;
  AnswerScan scan_answer(std::string_view bytes, AnswerTally& tally) override;
  std::uint32_t checks_per_request() const override { return batch_; }

 private:
  void tally_decisions(std::string_view frame, AnswerTally& tally) const;

  std::string policy_;
  std::uint32_t cost_;
  std::uint32_t batch_;
  Answers answers_;
  std::uint64_t next_id_ = 1;
  std::vector<std::string> key_texts_;
  std::vector<CheckRequest> checks_;
};

}  // namespace drl::bench
