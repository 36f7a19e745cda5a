#include <doctest/doctest.h>

#include "http/http_response.hpp"

using namespace drl::http;

TEST_CASE("http response: status line, length, no-store, the answer's fields, then the body") {
  HttpAnswer answer{429, "application/json", {{"Retry-After", "3"}}, "{}"};
  std::string out;
  append_response(answer, {}, out);
  CHECK(out ==
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: "
        "2\r\nCache-Control: no-store\r\nRetry-After: 3\r\n\r\n{}");
}

TEST_CASE("http response: a CR or LF in a field value cannot start a field of its own") {
  HttpAnswer answer{200, "text/plain", {{"Drl-Adjusted", "\"x\"\r\nSet-Cookie: a=b"}}, ""};
  std::string out;
  append_response(answer, {.close = true}, out);
  CHECK(out.find("\r\nSet-Cookie") == std::string::npos);
  CHECK(out.find("Drl-Adjusted: \"x\"  Set-Cookie: a=b\r\n") != std::string::npos);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("http response: the answer to HEAD has GET's fields and length, and no body") {
  HttpAnswer answer{200, "text/plain", {}, "ok\n"};
  std::string out;
  append_response(answer, {.head = true}, out);
  CHECK(out.find("Content-Length: 3\r\n") != std::string::npos);
  CHECK(out.ends_with("\r\n\r\n"));
}
