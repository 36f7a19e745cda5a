#include "http/request_target.hpp"

#include <http_parser.h>

namespace drl::http {
namespace {

bool is_control(unsigned char byte) {
  return byte < 0x20 || byte == 0x7f;
}

}  // namespace

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<RequestTarget> parse_request_target(std::string_view target) {
  http_parser_url url;
  http_parser_url_init(&url);
  if (http_parser_parse_url(target.data(), target.size(), 0, &url) != 0) return std::nullopt;
  if ((url.field_set & (1U << UF_PATH)) == 0) return std::nullopt;
  const std::string_view raw_path =
      target.substr(url.field_data[UF_PATH].off, url.field_data[UF_PATH].len);
  RequestTarget out;
  out.path.reserve(raw_path.size());
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c == '%') {
      if (i + 2 >= raw_path.size()) return std::nullopt;
      const int high = hex_digit(raw_path[i + 1]);
      const int low = hex_digit(raw_path[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      c = static_cast<char>(high * 16 + low);
      i += 2;
    }
    if (is_control(static_cast<unsigned char>(c))) return std::nullopt;
    out.path.push_back(c);
  }
  if ((url.field_set & (1U << UF_QUERY)) != 0) {
    out.query =
        std::string(target.substr(url.field_data[UF_QUERY].off, url.field_data[UF_QUERY].len));
  }
  return out;
}

}  // namespace drl::http
