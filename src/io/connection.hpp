// One connection of a stream server, owned by its worker's loop. Reads into the buffer its
// protocol session offers, lets the session answer, and writes the answers in one write per
// read. Stops reading while more than max_pending_output_bytes of answers wait to be read by the
// client, and closes on the server's timeouts.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "io/stream_session.hpp"

namespace drl::io {

class Worker;

class Connection {
 public:
  // Takes ownership of `fd` (closed on failure). The connection lives until closed.
  static void open(Worker& worker, int fd);

  // Closes now; pending answers are dropped. Safe to call more than once.
  void close();
  bool closing() const { return closing_; }

  // Closes the connection if one of the timeouts passed; `now_ns` is the monotonic clock.
  // Returns true if it closed it.
  bool close_if_timed_out(std::int64_t now_ns);

  // The worker's list of open connections, least recently active first.
  Connection* next = nullptr;
  Connection* prev = nullptr;

 private:
  explicit Connection(Worker& worker);

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_close(uv_handle_t* handle);

  uv_stream_t* stream() { return &handle_.stream; }
  const uv_stream_t* stream() const { return &handle_.stream; }
  void flush();
  void pause_if_backlogged();
  std::size_t queued_bytes() const;

  // One libuv handle, of the server's transport.
  union Handle {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
  };

  Handle handle_{};
  Worker& worker_;
  std::unique_ptr<StreamSession> session_;
  std::string out_;
  bool reading_ = false;
  bool closing_ = false;
  bool close_when_flushed_ = false;
  std::int64_t last_read_ns_ = 0;        // when bytes last arrived (or the connection opened)
  std::int64_t request_started_ns_ = 0;  // when the unfinished request began (0: none)
  std::int64_t output_progress_ns_ = 0;  // when the queued answers last shrank (0: none queued)
};

}  // namespace drl::io
