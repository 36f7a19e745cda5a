#include "tools/bench/drl_protocol.hpp"

#include <span>
#include <utility>

#include "core/bounds.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"

namespace drl::bench {

DrlProtocol::DrlProtocol(std::string policy, std::uint32_t cost, std::uint32_t batch,
                         Answers answers)
    : policy_(std::move(policy)),
      cost_(cost),
      batch_(batch == 0 ? 1 : batch),
      answers_(answers),
      key_texts_(batch_),
      checks_(batch_) {}

void DrlProtocol::append_request(std::string& out, KeyGenerator& keys) {
  for (std::uint32_t i = 0; i < batch_; ++i) {
    keys.next_key(key_texts_[i]);
    checks_[i] = CheckRequest{.policy = policy_, .key = key_texts_[i], .cost = cost_};
  }
  const std::span<const CheckRequest> checks(checks_);
  if (batch_ == 1) {
    wire::encode_check_request(out, next_id_++, checks, false);
  } else {
    wire::encode_batch_request(out, next_id_++, checks, false);
  }
}

AnswerScan DrlProtocol::scan_answer(std::string_view bytes, AnswerTally& tally) {
  if (bytes.size() < bounds::frame_header_bytes) return {};
  const auto* header = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t body = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                           (std::size_t{header[2]} << 8) | std::size_t{header[3]};
  if (body > bounds::frame_bytes_max) return {AnswerScan::Status::malformed, 0};
  if (bytes.size() < bounds::frame_header_bytes + body) return {};
  if (answers_ == Answers::decisions) {
    tally_decisions(bytes.substr(bounds::frame_header_bytes, body), tally);
  } else {
    tally.allowed += batch_;
  }
  return {AnswerScan::Status::complete, bounds::frame_header_bytes + body};
}

void DrlProtocol::tally_decisions(std::string_view frame, AnswerTally& tally) const {
  const Result<wire::Response> decoded = wire::decode_response(frame);
  if (!decoded.ok() || decoded->error) {
    tally.errors += batch_;
    return;
  }
  if (batch_ == 1) {
    ++(decoded->decision.allowed ? tally.allowed : tally.denied);
    return;
  }
  if (decoded->results.size() != batch_) {
    tally.errors += batch_;
    return;
  }
  for (const Result<Decision>& result : decoded->results) {
    if (!result.ok()) {
      ++tally.errors;
    } else {
      ++(result->allowed ? tally.allowed : tally.denied);
    }
  }
}

}  // namespace drl::bench
