// What the socket server asks of the layer above: turn frames into answers. One handler per
// worker thread, called only from that thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace drl::io {

class FrameHandler {
 public:
  virtual ~FrameHandler() = default;

  // Once per read callback, before its frames; `now` is read once for all of them.
  virtual void begin(core::WallTime now) = 0;

  // One whole frame. Appends whole answer frames to `out`.
  virtual void on_frame(std::string_view frame, std::string& out) = 0;

  // A frame header announced more than the size bound. Appends an answer to `out`; the server
  // then closes the connection, since the stream cannot be resynchronised.
  virtual void on_oversized(std::size_t announced_bytes, std::string& out) = 0;
};

using FrameHandlerFactory = std::function<std::unique_ptr<FrameHandler>(std::size_t worker)>;

}  // namespace drl::io
