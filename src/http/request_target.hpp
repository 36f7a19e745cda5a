// The request target of an HTTP request line ("/v1/check/api?key=a" or an absolute URL), split
// into a percent-decoded path and a raw query string. Strict: what the decision endpoint would
// otherwise read in two ways is refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace drl::http {

struct RequestTarget {
  std::string path;   // percent-decoded
  std::string query;  // after '?', still percent-encoded
};

// Nullopt when the target has no path (e.g. "*"), a malformed percent escape ("%zz", "%4"), or
// a path that decodes to a NUL or another control character (which would cut or bend a policy
// name: "/v1/check/small%00x").
std::optional<RequestTarget> parse_request_target(std::string_view target);

// The value of a hexadecimal digit, or -1.
int hex_digit(char c);

}  // namespace drl::http
