// A client-protocol connection without the client library: raw bytes in and out, for tests that
// send what a well-behaved client never would, and that watch the server close a connection.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "daemon_process.hpp"

namespace drl::integration {

class RawConnection {
 public:
  enum class Read { frame, closed, timeout };

  // Connects to a Unix socket; throws on failure. The socket is non-blocking.
  explicit RawConnection(const std::string& socket_path);
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&&) = delete;
  RawConnection(const RawConnection&) = delete;

  int fd() const { return fd_; }

  // Sends every byte, waiting for room up to `timeout`; throws if that fails.
  void send_bytes(std::string_view bytes, Millis timeout = 5s);
  // Sends as much as the socket takes now; returns the bytes taken (0 when full). Throws on error.
  std::size_t send_some(std::string_view bytes);
  // No more bytes from this side (the server sees end of stream).
  void shutdown_write();

  // Reads until one whole frame is buffered and hands out its body; `closed` when the server
  // ended the connection (end of stream or reset) before a whole frame arrived.
  Read read_frame(std::string& body, Millis timeout = 5s);
  // True when the server closes the connection within `timeout`. Frames that arrive meanwhile
  // are counted in frames_discarded.
  bool wait_closed(Millis timeout = 5s);
  std::size_t frames_discarded() const { return discarded_; }

 private:
  bool frame_buffered(std::string& body);

  int fd_ = -1;
  std::string buffer_;
  std::size_t discarded_ = 0;
};

// A 4-byte big-endian length, then the body.
std::string frame_of(std::string_view body);
// A frame header announcing `body_bytes`, without a body.
std::string header_of(std::uint32_t body_bytes);

// Requests as a well-behaved client sends them (protocol version 1).
std::string ping_frame(std::uint64_t id);
std::string check_frame(std::uint64_t id, std::string_view policy, std::string_view key,
                        std::uint64_t cost);

// A response body's top-level fields as text: strings as they are, integers in decimal,
// booleans as true/false, anything nested as msgpack's text rendering. Throws if the body is not
// one msgpack map.
using ResponseFields = std::map<std::string, std::string>;
ResponseFields decode_response(std::string_view body);

}  // namespace drl::integration
