#include "wire/frame_reader.hpp"

#include <cstring>

#include "core/bounds.hpp"

namespace drl::wire {

FrameReader::FrameReader(std::size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

std::span<char> FrameReader::prepare(std::size_t min_bytes) {
  if (buffer_.size() - end_ < min_bytes) {
    compact();
    if (buffer_.size() - end_ < min_bytes) buffer_.resize(end_ + min_bytes);
  }
  return {buffer_.data() + end_, buffer_.size() - end_};
}

void FrameReader::commit(std::size_t bytes) {
  end_ += bytes;
}

FrameReader::Status FrameReader::next(std::string_view& frame) {
  const std::size_t available = end_ - start_;
  if (available < bounds::frame_header_bytes) return Status::need_more;
  const auto* header = reinterpret_cast<const unsigned char*>(buffer_.data() + start_);
  const std::size_t body = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                           (std::size_t{header[2]} << 8) | std::size_t{header[3]};
  if (body > max_frame_bytes_) return Status::too_large;
  if (available < bounds::frame_header_bytes + body) return Status::need_more;
  frame = std::string_view(buffer_.data() + start_ + bounds::frame_header_bytes, body);
  start_ += bounds::frame_header_bytes + body;
  return Status::frame;
}

void FrameReader::compact() {
  if (start_ == 0) return;
  if (start_ != end_) std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
  end_ -= start_;
  start_ = 0;
}

void append_frame_header(std::string& out, std::uint32_t body_bytes) {
  const std::size_t at = out.size();
  out.resize(at + bounds::frame_header_bytes);
  patch_frame_header(out, at, body_bytes);
}

void patch_frame_header(std::string& out, std::size_t offset, std::uint32_t body_bytes) {
  out[offset] = static_cast<char>((body_bytes >> 24) & 0xff);
  out[offset + 1] = static_cast<char>((body_bytes >> 16) & 0xff);
  out[offset + 2] = static_cast<char>((body_bytes >> 8) & 0xff);
  out[offset + 3] = static_cast<char>(body_bytes & 0xff);
}

}  // namespace drl::wire
