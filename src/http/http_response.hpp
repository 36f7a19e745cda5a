// An HttpAnswer as bytes on the wire (HTTP/1.1).
#pragma once

#include <string>

#include "http/decision_answer.hpp"

namespace drl::http {

struct ResponseFraming {
  bool close = false;           // "Connection: close": the last answer on the connection
  bool keep_alive_1_0 = false;  // "Connection: keep-alive": an HTTP/1.0 client that asked for it
  bool head = false;            // the answer to HEAD: the fields of GET's, without the body
};

// Appends the status line, the fields (Content-Type, Content-Length, Cache-Control: no-store,
// then the answer's own) and the body to `out`. CR and LF in field values are replaced by
// spaces: no value can start a field of its own.
void append_response(const HttpAnswer& answer, const ResponseFraming& framing, std::string& out);

}  // namespace drl::http
