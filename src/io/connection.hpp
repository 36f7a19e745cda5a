// One client connection, owned by its worker's loop. Reads frames, hands them to the worker's
// FrameHandler, writes the answers in one write per read. Stops reading while more than
// max_pending_output_bytes of answers wait to be read by the client.
#pragma once

#include <uv.h>

#include <string>

#include "wire/frame_reader.hpp"

namespace drl::io {

class Worker;

class Connection {
 public:
  // Takes ownership of `fd` (closed on failure). The connection lives until closed.
  static void open(Worker& worker, int fd);

  // Closes now; pending answers are dropped. Safe to call more than once.
  void close();

  // Closes the connection if one of the timeouts passed; `now_ns` is the monotonic clock.
  // Returns true if it closed it.
  bool close_if_timed_out(std::int64_t now_ns);

  Connection* next = nullptr;  // the worker's list of open connections
  Connection* prev = nullptr;

 private:
  Connection(Worker& worker, std::size_t max_frame_bytes);

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* request, int status);
  static void on_close(uv_handle_t* handle);

  void process();
  void flush();
  void pause_if_backlogged();
  std::size_t queued_bytes() const;

  uv_pipe_t pipe_{};
  Worker& worker_;
  wire::FrameReader reader_;
  std::string out_;
  bool reading_ = false;
  bool closing_ = false;
  bool close_when_flushed_ = false;
  std::int64_t last_read_ns_ = 0;        // when bytes last arrived (or the connection opened)
  std::int64_t frame_started_ns_ = 0;    // when the buffered, unfinished frame began (0: none)
  std::int64_t output_progress_ns_ = 0;  // when the queued answers last shrank (0: none queued)
};

}  // namespace drl::io
