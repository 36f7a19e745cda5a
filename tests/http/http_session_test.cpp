#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "http/http_session.hpp"

using namespace drl::http;
using drl::io::StreamSession;

namespace {

// One connection's session driven without a socket: bytes in, answers out.
struct Connection {
  std::vector<Route> routes;
  HttpCounters counters;
  HttpProtocol protocol{routes, counters};
  std::unique_ptr<StreamSession> session;
  std::vector<std::string> seen;  // "METHOD path?query" of each request a route answered
  std::string out;
  bool closing = false;

  Connection() {
    routes.push_back(Route{"/v1/check", false, {"GET", "POST"}, [this](const HttpRequestView& r) {
                             seen.push_back(std::string(r.method) + " " + std::string(r.path) +
                                            "?" + std::string(r.query));
                             HttpAnswer answer;
                             answer.body = std::string(r.header("X-Tier").value_or("-"));
                             return answer;
                           }});
    routes.push_back(Route{"/metrics", true, {"GET"}, [](const HttpRequestView&) {
                             return HttpAnswer{200, "text/plain", {}, "metrics"};
                           }});
    session = protocol.open_session(drl::io::ConnectionInfo{"192.0.2.7"});
  }

  // Feeds `bytes` as one read (split if the read buffer is smaller).
  void read(std::string_view bytes) {
    while (!bytes.empty() && !closing) {
      const std::span<char> buffer = session->read_buffer();
      const std::size_t n = std::min(buffer.size(), bytes.size());
      std::memcpy(buffer.data(), bytes.data(), n);
      bytes.remove_prefix(n);
      const StreamSession::ReadOutcome outcome = session->on_read(n, out);
      closing = outcome.next == StreamSession::Next::close_when_flushed;
    }
  }

  std::size_t answers(std::string_view status_line) const {
    std::size_t count = 0;
    for (std::size_t at = out.find(status_line); at != std::string::npos;
         at = out.find(status_line, at + 1)) {
      ++count;
    }
    return count;
  }
};

std::uint64_t refused(const HttpCounters& counters, HttpRefusal refusal) {
  return counters.refused[static_cast<std::size_t>(refusal)].load();
}

}  // namespace

TEST_CASE("http session: a request split over many reads is answered once, when whole") {
  Connection c;
  const std::string request = "GET /v1/check/api?key=a HTTP/1.1\r\nHost: x\r\nX-Tier: pro\r\n\r\n";
  for (char byte : request) {
    CHECK(c.out.empty());
    c.read(std::string_view(&byte, 1));
  }
  CHECK(c.seen == std::vector<std::string>{"GET /v1/check/api?key=a"});
  CHECK(c.answers("HTTP/1.1 200 OK\r\n") == 1);
  CHECK(c.out.ends_with("\r\n\r\npro"));
  CHECK_FALSE(c.closing);
  CHECK_FALSE(c.session->request_in_progress());
}

TEST_CASE("http session: a request begun and not finished is in progress until its end") {
  Connection c;
  c.read("GET /v1/check/api?key=a HT");
  CHECK(c.session->request_in_progress());
  c.read("TP/1.1\r\n\r\n");
  CHECK_FALSE(c.session->request_in_progress());
}

TEST_CASE("http session: pipelined requests are answered in order, and Connection: close ends") {
  Connection c;
  c.read(
      "GET /v1/check/a HTTP/1.1\r\n\r\nGET /v1/check/b HTTP/1.1\r\nConnection: close\r\n\r\n"
      "GET /v1/check/c HTTP/1.1\r\n\r\n");
  CHECK(c.seen == std::vector<std::string>{"GET /v1/check/a?", "GET /v1/check/b?"});
  CHECK(c.answers("HTTP/1.1 200 OK\r\n") == 2);
  CHECK(c.out.find("Connection: close\r\n") != std::string::npos);
  CHECK(c.closing);
}

TEST_CASE("http session: HTTP/1.0 closes after the answer unless it asked for keep-alive") {
  Connection plain;
  plain.read("GET /v1/check/a HTTP/1.0\r\n\r\n");
  CHECK(plain.closing);
  Connection kept;
  kept.read("GET /v1/check/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK_FALSE(kept.closing);
  CHECK(kept.out.find("Connection: keep-alive\r\n") != std::string::npos);
}

TEST_CASE("http session: two Content-Length fields are refused with 400, nothing after is read") {
  Connection c;
  c.read(
      "POST /v1/check/a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 34\r\n\r\n"
      "GET /v1/check/smuggled HTTP/1.1\r\n\r\n");
  CHECK(c.seen.empty());
  CHECK(c.answers("HTTP/1.1 400 Bad Request\r\n") == 1);
  CHECK(c.out.find("Connection: close\r\n") != std::string::npos);
  CHECK(c.closing);
  CHECK(refused(c.counters, HttpRefusal::ambiguous_framing) == 1);
  CHECK(c.out.find("ambiguous_framing: Content-Length more than once") != std::string::npos);
}

TEST_CASE("http session: Content-Length with Transfer-Encoding is refused with 400 and a close") {
  for (const char* order : {"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                            "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"}) {
    CAPTURE(order);
    Connection c;
    c.read(std::string("POST /v1/check/a HTTP/1.1\r\n") + order +
           "\r\n0\r\n\r\nGET /v1/check/smuggled HTTP/1.1\r\n\r\n");
    CHECK(c.seen.empty());
    CHECK(c.answers("HTTP/1.1 400 Bad Request\r\n") == 1);
    CHECK(c.closing);
    CHECK(refused(c.counters, HttpRefusal::ambiguous_framing) == 1);
  }
}

TEST_CASE("http session: a transfer coding other than chunked alone is refused") {
  for (const char* coding : {"gzip, chunked", "chunked, chunked", "identity"}) {
    CAPTURE(coding);
    Connection c;
    c.read(std::string("POST /v1/check/a HTTP/1.1\r\nTransfer-Encoding: ") + coding +
           "\r\n\r\n0\r\n\r\n");
    CHECK(c.seen.empty());
    CHECK(c.answers("HTTP/1.1 400 Bad Request\r\n") == 1);
    CHECK(c.closing);
  }
}

TEST_CASE("http session: a chunked body is read past, and the next request answered") {
  Connection c;
  c.read(
      "POST /v1/check/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
      "GET /v1/check/b HTTP/1.1\r\n\r\n");
  CHECK(c.seen == std::vector<std::string>{"POST /v1/check/a?", "GET /v1/check/b?"});
  CHECK_FALSE(c.closing);
}

TEST_CASE("http session: an encoded NUL, a control character or a bad escape in the path is 400") {
  for (const char* target :
       {"/v1/check/small%00x", "/v1/check/a%0Ab", "/v1/check/a%zz", "/v1/check/a%4"}) {
    CAPTURE(target);
    Connection c;
    c.read(std::string("GET ") + target + "?key=a HTTP/1.1\r\n\r\n");
    CHECK(c.seen.empty());
    CHECK(c.answers("HTTP/1.1 400 Bad Request\r\n") == 1);
    CHECK(c.closing);
  }
}

TEST_CASE("http session: percent escapes in the path are decoded, the query is left as sent") {
  Connection c;
  c.read("GET /v1/check/my%20api?key=a%20b HTTP/1.1\r\n\r\n");
  CHECK(c.seen == std::vector<std::string>{"GET /v1/check/my api?key=a%20b"});
}

TEST_CASE("http session: a head over its bound gets 431, a body over its bound 413") {
  Connection head;
  head.read("GET /v1/check/a HTTP/1.1\r\nX-Big: " +
            std::string(drl::bounds::http_request_head_bytes_max, 'x') + "\r\n\r\n");
  CHECK(head.answers("HTTP/1.1 431 ") == 1);
  CHECK(head.closing);
  CHECK(refused(head.counters, HttpRefusal::head_too_large) == 1);

  Connection fields;
  std::string many = "GET /v1/check/a HTTP/1.1\r\n";
  for (std::size_t i = 0; i <= drl::bounds::http_request_headers_max; ++i) many += "A: b\r\n";
  fields.read(many + "\r\n");
  CHECK(fields.answers("HTTP/1.1 431 ") == 1);

  Connection body;
  body.read("POST /v1/check/a HTTP/1.1\r\nContent-Length: " +
            std::to_string(drl::bounds::http_request_body_bytes_max + 1) + "\r\n\r\n");
  CHECK(body.answers("HTTP/1.1 413 Payload Too Large\r\n") == 1);
  CHECK(body.out.find("\"title\":\"Payload Too Large\"") != std::string::npos);
  CHECK(body.out.find("a body over 65536 bytes") != std::string::npos);
  CHECK(body.closing);
  CHECK(body.seen.empty());
}

TEST_CASE("http session: Expect: 100-continue gets 100 Continue, then the answer") {
  Connection c;
  c.read("POST /v1/check/a HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  CHECK(c.out == "HTTP/1.1 100 Continue\r\n\r\n");
  c.read("abc");
  CHECK(c.answers("HTTP/1.1 200 OK\r\n") == 1);
}

TEST_CASE("http session: something that is not HTTP is refused with 400 and a close") {
  Connection c;
  c.read("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");  // a TLS ClientHello
  CHECK(c.answers("HTTP/1.1 400 Bad Request\r\n") == 1);
  CHECK(c.closing);
  CHECK(refused(c.counters, HttpRefusal::malformed) == 1);
}

TEST_CASE(
    "http session: an unknown path is 404, HEAD is GET without the body, a wrong method 405 with "
    "Allow") {
  Connection missing;
  missing.read("GET /v2/nothing HTTP/1.1\r\n\r\n");
  CHECK(missing.answers("HTTP/1.1 404 Not Found\r\n") == 1);
  CHECK_FALSE(missing.closing);
  Connection prefix;
  prefix.read("GET /v1/checked HTTP/1.1\r\n\r\nGET /metrics/x HTTP/1.1\r\n\r\n");
  CHECK(prefix.answers("HTTP/1.1 404 Not Found\r\n") == 2);
  Connection head;
  head.read("HEAD /metrics HTTP/1.1\r\n\r\n");
  CHECK(head.answers("HTTP/1.1 200 OK\r\n") == 1);
  CHECK(head.out.find("Content-Length: 7\r\n") != std::string::npos);
  CHECK(head.out.ends_with("\r\n\r\n"));
  Connection method;
  method.read("DELETE /metrics HTTP/1.1\r\n\r\n");
  CHECK(method.answers("HTTP/1.1 405 Method Not Allowed\r\n") == 1);
  CHECK(method.out.find("Allow: GET\r\n") != std::string::npos);
}

TEST_CASE("http session: the answers by status are counted") {
  Connection c;
  c.read("GET /v1/check/a HTTP/1.1\r\n\r\nGET /nothing HTTP/1.1\r\n\r\n");
  CHECK(c.counters.by_code[0].load() == 1);  // 200
  CHECK(c.counters.by_code[4].load() == 1);  // 404
}
