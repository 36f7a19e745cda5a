#include "http/http_session.hpp"

#include <http_parser.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <utility>

#include "http/http_response.hpp"
#include "http/request_target.hpp"

namespace drl::http {
namespace {

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

int status_of(HttpRefusal refusal) {
  switch (refusal) {
    case HttpRefusal::head_too_large:
      return 431;
    case HttpRefusal::body_too_large:
      return 413;
    case HttpRefusal::malformed:
    case HttpRefusal::ambiguous_framing:
    case HttpRefusal::bad_target:
      return 400;
  }
  return 400;
}

// The bounds, as a refused client reads them.
const std::string kHeadTooLarge = "request line and header fields over " +
                                  std::to_string(bounds::http_request_head_bytes_max) + " bytes";
const std::string kTooManyFields =
    "more than " + std::to_string(bounds::http_request_headers_max) + " header fields";
const std::string kBodyTooLarge =
    "a body over " + std::to_string(bounds::http_request_body_bytes_max) + " bytes";
constexpr std::string_view kLengthAndCoding = "Content-Length with Transfer-Encoding";

class HttpSession final : public io::StreamSession {
 public:
  HttpSession(HttpProtocol& protocol, std::string remote_address)
      : protocol_(protocol), remote_address_(std::move(remote_address)) {
    http_parser_init(&parser_, HTTP_REQUEST);
    parser_.data = this;
  }

  std::span<char> read_buffer() override { return protocol_.read_buffer(); }

  ReadOutcome on_read(std::size_t bytes, std::string& out) override {
    out_ = &out;
    completed_ = false;
    const char* data = protocol_.read_buffer().data();
    const std::size_t parsed = http_parser_execute(&parser_, &settings(), data, bytes);
    const auto error = static_cast<http_errno>(parser_.http_errno);
    ReadOutcome outcome;
    if (closing_) {
      outcome.next = Next::close_when_flushed;  // answered with Connection: close
    } else if (error != HPE_OK) {
      if (refusal_) {
        refuse(*refusal_, refusal_detail_);
      } else {
        refuse(refusal_of(error), detail_of(error));
      }
      outcome.next = Next::close_when_flushed;
    } else if (parser_.upgrade != 0 || parsed != bytes) {
      // An upgrade (or CONNECT) the endpoint does not do: its bytes after the head are not
      // HTTP. The request was answered; nothing after it is read.
      outcome.next = Next::close_when_flushed;
    }
    outcome.completed_request = completed_;
    out_ = nullptr;
    return outcome;
  }

  bool request_in_progress() const override { return in_message_; }

 private:
  static const http_parser_settings& settings() {
    static const http_parser_settings instance = [] {
      http_parser_settings s;
      http_parser_settings_init(&s);
      s.on_message_begin = [](http_parser* p) { return self(p).on_message_begin(); };
      s.on_url = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_url(std::string_view(at, n));
      };
      s.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_field(std::string_view(at, n));
      };
      s.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
        return self(p).on_header_value(std::string_view(at, n));
      };
      s.on_headers_complete = [](http_parser* p) { return self(p).on_headers_complete(); };
      s.on_body = [](http_parser* p, const char*, std::size_t n) { return self(p).on_body(n); };
      s.on_message_complete = [](http_parser* p) { return self(p).on_message_complete(); };
      return s;
    }();
    return instance;
  }

  static HttpSession& self(http_parser* parser) { return *static_cast<HttpSession*>(parser->data); }

  // What http-parser refused, in the words of the fields a client sent.
  static std::string_view detail_of(http_errno error) {
    switch (error) {
      case HPE_UNEXPECTED_CONTENT_LENGTH:
        return "Content-Length more than once, or with Transfer-Encoding";
      case HPE_INVALID_TRANSFER_ENCODING:
        return "a Transfer-Encoding other than a single chunked";
      case HPE_INVALID_CONTENT_LENGTH:
        return "a Content-Length that is not a number";
      case HPE_HEADER_OVERFLOW:
        return kHeadTooLarge;
      default:
        return http_errno_description(error);
    }
  }

  static HttpRefusal refusal_of(http_errno error) {
    switch (error) {
      case HPE_UNEXPECTED_CONTENT_LENGTH:
      case HPE_INVALID_TRANSFER_ENCODING:
      case HPE_INVALID_CONTENT_LENGTH:
        return HttpRefusal::ambiguous_framing;
      case HPE_HEADER_OVERFLOW:
        return HttpRefusal::head_too_large;
      case HPE_INVALID_URL:
      case HPE_INVALID_PATH:
      case HPE_INVALID_QUERY_STRING:
      case HPE_INVALID_FRAGMENT:
        return HttpRefusal::bad_target;
      default:
        return HttpRefusal::malformed;
    }
  }

  // Returns -1, which stops the parser from any callback (on_headers_complete reads 1 as "no
  // body" and 2 as "upgrade"): the request is refused with `refusal`, for the reason `detail`.
  int stop(HttpRefusal refusal, std::string_view detail) {  // only on a refusal: a copy is fine
    refusal_ = refusal;
    refusal_detail_ = detail;
    return -1;
  }

  bool head_grows(std::size_t bytes) {
    head_bytes_ += bytes;
    return head_bytes_ <= bounds::http_request_head_bytes_max;
  }

  int on_message_begin() {
    in_message_ = true;
    target_.clear();
    fields_.clear();
    in_value_ = false;
    head_bytes_ = 0;
    body_bytes_ = 0;
    return 0;
  }

  int on_url(std::string_view piece) {
    if (!head_grows(piece.size())) return stop(HttpRefusal::head_too_large, kHeadTooLarge);
    target_.append(piece);
    return 0;
  }

  int on_header_field(std::string_view piece) {
    if (!head_grows(piece.size())) return stop(HttpRefusal::head_too_large, kHeadTooLarge);
    if (in_value_ || fields_.empty()) {
      if (fields_.size() >= bounds::http_request_headers_max) {
        return stop(HttpRefusal::head_too_large, kTooManyFields);
      }
      fields_.emplace_back();
      in_value_ = false;
    }
    fields_.back().first.append(piece);
    return 0;
  }

  int on_header_value(std::string_view piece) {
    if (!head_grows(piece.size())) return stop(HttpRefusal::head_too_large, kHeadTooLarge);
    in_value_ = true;
    fields_.back().second.append(piece);
    return 0;
  }

  int on_headers_complete() {
    // http-parser refuses a second Content-Length, and Content-Length with Transfer-Encoding;
    // the endpoint checks again, so that its framing does not rest on one library's leniency
    // (RFC 9112 6.3: such a request is an attack or an error, and gets 400 and a close).
    int content_lengths = 0;
    int transfer_encodings = 0;
    bool chunked_only = true;
    expect_continue_ = false;
    for (const auto& [name, value] : fields_) {
      if (equals_ignoring_case(name, "content-length")) ++content_lengths;
      if (equals_ignoring_case(name, "transfer-encoding")) {
        ++transfer_encodings;
        chunked_only = chunked_only && equals_ignoring_case(trim(value), "chunked");
      }
      if (equals_ignoring_case(name, "expect")) {
        if (!equals_ignoring_case(trim(value), "100-continue")) {
          return stop(HttpRefusal::malformed, "an Expect field other than 100-continue");
        }
        expect_continue_ = true;
      }
    }
    if (content_lengths > 1) {
      return stop(HttpRefusal::ambiguous_framing, "Content-Length more than once");
    }
    if (content_lengths > 0 && transfer_encodings > 0) {
      return stop(HttpRefusal::ambiguous_framing, kLengthAndCoding);
    }
    if (transfer_encodings > 1 || !chunked_only) {
      return stop(HttpRefusal::ambiguous_framing,
                  "a Transfer-Encoding other than a single chunked");
    }
    // http-parser's content_length is ULLONG_MAX when the request has no Content-Length.
    const bool has_length = content_lengths > 0 && parser_.content_length != ULLONG_MAX;
    if (has_length && parser_.content_length > bounds::http_request_body_bytes_max) {
      return stop(HttpRefusal::body_too_large, kBodyTooLarge);
    }
    const bool has_body = transfer_encodings > 0 || (has_length && parser_.content_length > 0);
    if (expect_continue_ && has_body && parser_.http_minor >= 1) {
      out_->append("HTTP/1.1 100 Continue\r\n\r\n");
    }
    return 0;
  }

  int on_body(std::size_t bytes) {
    // The decision endpoint reads only the head; a body is read to find the next request.
    body_bytes_ += bytes;
    if (body_bytes_ > bounds::http_request_body_bytes_max) {
      return stop(HttpRefusal::body_too_large, kBodyTooLarge);
    }
    return 0;
  }

  int on_message_complete() {
    in_message_ = false;
    completed_ = true;
    const bool keep_alive = http_should_keep_alive(&parser_) != 0;
    const std::optional<RequestTarget> target = parse_request_target(target_);
    const bool head = parser_.method == HTTP_HEAD;
    HttpAnswer answer;
    if (!target) {
      protocol_.counters().count(HttpRefusal::bad_target);
      answer = answer_error(400,
                            "bad request target: no path, a bad percent escape, or a control "
                            "character in the path");
    } else {
      HttpRequestView request;
      // HEAD is GET without the body (RFC 9110 9.3.2): load balancers check health with it.
      request.method =
          head ? std::string_view("GET")
               : std::string_view(http_method_str(static_cast<http_method>(parser_.method)));
      request.path = target->path;
      request.query = target->query;
      request.remote_addr = remote_address_;
      request.header = [this](std::string_view name) -> std::optional<std::string_view> {
        for (const auto& [field, value] : fields_) {
          if (equals_ignoring_case(field, name)) return std::string_view(value);
        }
        return std::nullopt;
      };
      answer = protocol_.route(request);
    }
    protocol_.counters().count(answer.status);
    const bool close = !keep_alive || !target;
    append_response(answer, {close, keep_alive && parser_.http_minor == 0, head}, *out_);
    if (close) {
      closing_ = true;
      http_parser_pause(&parser_, 1);
    }
    return 0;
  }

  void refuse(HttpRefusal refusal, std::string_view detail) {
    protocol_.counters().count(refusal);
    const int status = status_of(refusal);
    HttpAnswer answer =
        answer_error(status, std::string(http_refusal_name(refusal)) + ": " + std::string(detail));
    protocol_.counters().count(status);
    append_response(answer, {.close = true}, *out_);
    in_message_ = false;
    completed_ = true;
  }

  HttpProtocol& protocol_;
  std::string remote_address_;
  http_parser parser_{};
  std::string* out_ = nullptr;  // during on_read only
  bool in_message_ = false;
  bool completed_ = false;
  bool closing_ = false;
  bool in_value_ = false;
  bool expect_continue_ = false;
  std::optional<HttpRefusal> refusal_;
  std::string refusal_detail_;
  std::size_t head_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::string target_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace

HttpProtocol::HttpProtocol(const std::vector<Route>& routes, HttpCounters& counters)
    : routes_(routes), counters_(counters), read_buffer_(bounds::http_read_buffer_bytes) {}

std::unique_ptr<io::StreamSession> HttpProtocol::open_session(
    const io::ConnectionInfo& connection) {
  return std::make_unique<HttpSession>(*this, connection.remote_address);
}

HttpAnswer HttpProtocol::route(const HttpRequestView& request) const {
  const auto matches = [&request](const Route& route) {
    if (route.exact) return request.path == route.path;
    return request.path == route.path ||
           (request.path.size() > route.path.size() && request.path.starts_with(route.path) &&
            request.path[route.path.size()] == '/');
  };
  const auto found = std::find_if(routes_.begin(), routes_.end(), matches);
  if (found == routes_.end()) return answer_error(404, "no such resource");
  const Route& route = *found;
  if (std::find(route.methods.begin(), route.methods.end(), request.method) ==
      route.methods.end()) {
    HttpAnswer answer = answer_error(405, "method not allowed here");
    std::string allowed;
    for (const std::string& method : route.methods)
      allowed += (allowed.empty() ? "" : ", ") + method;
    answer.headers.emplace_back("Allow", allowed);
    return answer;
  }
  // A callback must not throw; if one does, this request fails, not the daemon.
  try {
    return route.handle(request);
  } catch (const std::exception& error) {
    return answer_error(500, std::string("internal error: ") + error.what());
  }
}

}  // namespace drl::http
