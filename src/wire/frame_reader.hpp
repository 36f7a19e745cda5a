// Framing of the client protocol: each message is a 4-byte big-endian length, then that many
// bytes of msgpack. The reader accumulates stream bytes and hands out whole frames, and knows a
// frame is too large from its header, before buffering it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drl::wire {

class FrameReader {
 public:
  enum class Status {
    frame,      // `frame` holds one whole frame (possibly empty)
    need_more,  // no whole frame buffered
    too_large,  // the next frame's header announces more than max_frame_bytes
  };

  explicit FrameReader(std::size_t max_frame_bytes);

  // A writable region of at least `min_bytes` at the end of the buffer. Invalidates frames
  // handed out before.
  std::span<char> prepare(std::size_t min_bytes);
  void commit(std::size_t bytes);

  // The next whole frame; it stays valid until prepare() or compact().
  Status next(std::string_view& frame);

  // Forgets the frames already handed out.
  void compact();

  std::size_t buffered_bytes() const { return end_ - start_; }
  std::size_t capacity_bytes() const { return buffer_.size(); }

 private:
  std::size_t max_frame_bytes_;
  std::vector<char> buffer_;
  std::size_t start_ = 0;
  std::size_t end_ = 0;
};

// Appends a frame header for `body_bytes` to `out`.
void append_frame_header(std::string& out, std::uint32_t body_bytes);

// Writes `body_bytes` as the header at out[offset .. offset+4).
void patch_frame_header(std::string& out, std::size_t offset, std::uint32_t body_bytes);

}  // namespace drl::wire
