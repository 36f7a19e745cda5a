// An HTTP request as the decision endpoint sees it: independent of the server library.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace drl::http {

struct HttpRequestView {
  std::string_view method;
  std::string_view path;   // without the query string, percent-decoded
  std::string_view query;  // after '?', still percent-encoded
  std::string_view remote_addr;
  // A request header's value (names compare case-insensitively), if present.
  std::function<std::optional<std::string_view>(std::string_view)> header;
};

// The value of `name` in a query string ("a=1&b=x%20y" -> "x y" for b), percent-decoded, '+'
// read as a space. The first occurrence wins.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

}  // namespace drl::http
