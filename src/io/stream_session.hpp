// What a stream server asks of the protocol it serves: per connection, a session that takes the
// bytes read and appends its answers. The server owns the sockets, the bounds, the timeouts and
// the write path; the session owns the protocol's state. Both run on one worker thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>

namespace drl::io {

// What the server knows of a new connection.
struct ConnectionInfo {
  std::string remote_address;  // the peer's IP address (TCP), empty for a Unix socket
};

class StreamSession {
 public:
  enum class Next {
    keep_reading,
    close_when_flushed,  // stop reading; close once the answers appended so far are written
  };

  virtual ~StreamSession() = default;

  // Where the next read goes: a region of at least one byte, valid until on_read().
  virtual std::span<char> read_buffer() = 0;

  struct ReadOutcome {
    Next next = Next::keep_reading;
    bool completed_request = false;  // at least one request was answered (or refused)
  };

  // `bytes` bytes were read into the region read_buffer() returned last. Appends whole answers
  // to `out`.
  virtual ReadOutcome on_read(std::size_t bytes, std::string& out) = 0;

  // True while a request has begun and is not complete: the server's request timeout
  // (ServerOptions::frame_timeout_ms) runs only then.
  virtual bool request_in_progress() const = 0;
};

// One per worker thread; opens the sessions of the connections that worker serves, on that
// thread.
class StreamProtocol {
 public:
  virtual ~StreamProtocol() = default;
  virtual std::unique_ptr<StreamSession> open_session(const ConnectionInfo& connection) = 0;
};

struct ServerCounters;

// Makes worker `worker`'s protocol; `counters` are the server's, and outlive the protocol.
using StreamProtocolFactory =
    std::function<std::unique_ptr<StreamProtocol>(std::size_t worker, ServerCounters& counters)>;

}  // namespace drl::io
