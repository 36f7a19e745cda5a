// What differs between the targets a load run drives: how a request is written and how an answer
// is recognised. Everything else (connections, pipelining, timing, keys, counting) is shared, so
// the targets are measured through the same code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tools/bench/key_generator.hpp"

namespace drl::bench {

// What the answers said, per check.
struct AnswerTally {
  std::uint64_t allowed = 0;
  std::uint64_t denied = 0;
  std::uint64_t errors = 0;  // an error answer, or an answer the bench could not read

  void add(const AnswerTally& other) {
    allowed += other.allowed;
    denied += other.denied;
    errors += other.errors;
  }
};

struct AnswerScan {
  enum class Status { complete, incomplete, malformed };
  Status status = Status::incomplete;
  std::size_t bytes = 0;  // the answer's size when complete
};

// One per load thread (implementations keep scratch buffers; not thread-safe).
class TargetProtocol {
 public:
  virtual ~TargetProtocol() = default;

  // Appends one request (checks_per_request() checks, keys from `keys`) to `out`.
  virtual void append_request(std::string& out, KeyGenerator& keys) = 0;

  // Recognises the first answer at the start of `bytes` and adds what it says to `tally`.
  virtual AnswerScan scan_answer(std::string_view bytes, AnswerTally& tally) = 0;

  virtual std::uint32_t checks_per_request() const = 0;
};

}  // namespace drl::bench
