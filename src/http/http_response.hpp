// An HttpAnswer as bytes on the wire (HTTP/1.1).
#pragma once

#include <string>

#include "http/decision_answer.hpp"

namespace drl::http {

// Appends the status line, the fields (Content-Type, Content-Length, Cache-Control: no-store,
// then the answer's own) and the body to `out`. `close` adds "Connection: close";
// `keep_alive_1_0` adds "Connection: keep-alive" (an HTTP/1.0 client that asked for it).
// CR and LF in field values are replaced by spaces: no value can start a field of its own.
void append_response(const HttpAnswer& answer, bool close, bool keep_alive_1_0, std::string& out);

}  // namespace drl::http
