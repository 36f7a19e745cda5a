// Server side of the client protocol: frame bytes to Request. Untrusted input: every failure is
// an Error, never an exception or a crash, and nothing is allocated beyond the frame's size.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "drl/result.hpp"
#include "wire/client_request.hpp"

namespace drl::wire {

class RequestDecoder {
 public:
  // `max_batch_checks` bounds op batch; `max_frame_bytes` bounds every string.
  RequestDecoder(std::size_t max_batch_checks, std::size_t max_frame_bytes);
  ~RequestDecoder();
  RequestDecoder(const RequestDecoder&) = delete;
  RequestDecoder& operator=(const RequestDecoder&) = delete;

  // Decodes one frame into `out` (reusing its storage). On failure, out.id holds the request id
  // if it could be read, so that the error can still be matched to the request.
  // `out` holds views into `frame` and into the decoder: valid until the next decode().
  Result<Done> decode(std::string_view frame, Request& out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace drl::wire
