// Unix stream sockets for the bench: connecting, listening, and one blocking request/answer
// exchange for the administrative calls made outside a timed run. Failures throw
// std::runtime_error with the path and the reason.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace drl::bench {

// A connected socket, non-blocking if asked.
int connect_unix(const std::string& path, bool nonblocking);

// A listening, non-blocking socket at `path` (an old file there is removed first).
int listen_unix(const std::string& path);

// Writes `request` and reads until `answer_size` (called on the bytes read so far) returns the
// size of a complete answer; returns that answer. `answer_size` returns 0 while incomplete and
// throws if the bytes cannot be an answer. Gives up after 30 s.
std::string exchange(int fd, std::string_view request,
                     const std::function<std::size_t(std::string_view)>& answer_size);

}  // namespace drl::bench
