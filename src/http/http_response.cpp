#include "http/http_response.hpp"

#include <http_parser.h>

namespace drl::http {
namespace {

void append_field(std::string_view name, std::string_view value, std::string& out) {
  out.append(name);
  out.append(": ");
  for (char c : value) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  out.append("\r\n");
}

}  // namespace

void append_response(const HttpAnswer& answer, const ResponseFraming& framing, std::string& out) {
  out.append("HTTP/1.1 ");
  out.append(std::to_string(answer.status));
  out.push_back(' ');
  out.append(http_status_str(static_cast<http_status>(answer.status)));
  out.append("\r\n");
  append_field("Content-Type", answer.content_type, out);
  append_field("Content-Length", std::to_string(answer.body.size()), out);
  append_field("Cache-Control", "no-store", out);
  if (framing.close) {
    append_field("Connection", "close", out);
  } else if (framing.keep_alive_1_0) {
    append_field("Connection", "keep-alive", out);
  }
  for (const auto& [name, value] : answer.headers) append_field(name, value, out);
  out.append("\r\n");
  if (!framing.head) out.append(answer.body);
}

}  // namespace drl::http
