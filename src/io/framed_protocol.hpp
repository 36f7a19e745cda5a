// The client protocol's framing (wire/frame_reader.hpp) as a stream protocol: each connection
// reads straight into its own frame buffer, and every whole frame goes to the worker's
// FrameHandler.
#pragma once

#include <memory>

#include "io/frame_handler.hpp"
#include "io/server_counters.hpp"
#include "io/stream_session.hpp"

namespace drl::io {

class FramedProtocol final : public StreamProtocol {
 public:
  // `counters` must outlive the protocol and its sessions.
  FramedProtocol(std::unique_ptr<FrameHandler> handler, std::size_t max_frame_bytes,
                 ServerCounters& counters);

  std::unique_ptr<StreamSession> open_session(const ConnectionInfo& connection) override;

 private:
  class Session;
  std::unique_ptr<FrameHandler> handler_;
  std::size_t max_frame_bytes_;
  ServerCounters& counters_;
};

// The protocols of a server whose workers each answer frames with a handler from `factory`.
StreamProtocolFactory framed_protocols(FrameHandlerFactory factory, std::size_t max_frame_bytes);

}  // namespace drl::io
