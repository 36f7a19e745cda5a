#include "io/framed_protocol.hpp"

#include <algorithm>

#include "io/clock.hpp"
#include "wire/frame_reader.hpp"

namespace drl::io {
namespace {

constexpr std::size_t kReadChunkBytes = 64 * 1024;

}  // namespace

class FramedProtocol::Session final : public StreamSession {
 public:
  explicit Session(FramedProtocol& protocol)
      : protocol_(protocol), reader_(protocol.max_frame_bytes_) {}

  std::span<char> read_buffer() override {
    const std::span<char> room = reader_.prepare(kReadChunkBytes);
    return room.first(std::min(room.size(), kReadChunkBytes));
  }

  ReadOutcome on_read(std::size_t bytes, std::string& out) override {
    reader_.commit(bytes);
    FrameHandler& handler = *protocol_.handler_;
    handler.begin(wall_now());
    ReadOutcome outcome;
    std::string_view frame;
    for (;;) {
      const wire::FrameReader::Status status = reader_.next(frame);
      if (status == wire::FrameReader::Status::need_more) break;
      if (status == wire::FrameReader::Status::too_large) {
        // The stream cannot be resynchronised: answer, then close.
        protocol_.counters_.frames_oversized.fetch_add(1, std::memory_order_relaxed);
        handler.on_oversized(protocol_.max_frame_bytes_ + 1, out);
        outcome.next = Next::close_when_flushed;
        outcome.completed_request = true;
        break;
      }
      protocol_.counters_.frames.fetch_add(1, std::memory_order_relaxed);
      handler.on_frame(frame, out);
      outcome.completed_request = true;
    }
    reader_.compact();
    return outcome;
  }

  bool request_in_progress() const override { return reader_.buffered_bytes() != 0; }

 private:
  FramedProtocol& protocol_;
  wire::FrameReader reader_;
};

FramedProtocol::FramedProtocol(std::unique_ptr<FrameHandler> handler, std::size_t max_frame_bytes,
                               ServerCounters& counters)
    : handler_(std::move(handler)), max_frame_bytes_(max_frame_bytes), counters_(counters) {}

std::unique_ptr<StreamSession> FramedProtocol::open_session(const ConnectionInfo&) {
  return std::make_unique<Session>(*this);
}

StreamProtocolFactory framed_protocols(FrameHandlerFactory factory, std::size_t max_frame_bytes) {
  return [factory = std::move(factory), max_frame_bytes](std::size_t worker,
                                                         ServerCounters& counters) {
    return std::make_unique<FramedProtocol>(factory(worker), max_frame_bytes, counters);
  };
}

}  // namespace drl::io
