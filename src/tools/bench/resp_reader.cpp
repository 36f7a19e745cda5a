#include "tools/bench/resp_reader.hpp"

#include <charconv>
#include <string>

namespace drl::bench {
namespace {

constexpr int kDepthMax = 8;
constexpr std::int64_t kBulkBytesMax = 512LL * 1024 * 1024;  // Redis' own proto-max-bulk-len
constexpr std::int64_t kArrayElementsMax = 1LL << 20;

class Parser {
 public:
  explicit Parser(std::string_view bytes) : bytes_(bytes) {}

  RespParse::Status value(RespValue& out, int depth) {
    if (depth > kDepthMax) return RespParse::Status::malformed;
    if (at_ >= bytes_.size()) return RespParse::Status::incomplete;
    const char kind = bytes_[at_++];
    std::string_view line;
    if (const RespParse::Status status = read_line(line); status != RespParse::Status::complete)
      return status;
    switch (kind) {
      case '+':
        out.type = RespValue::Type::simple_string;
        out.text = line;
        return RespParse::Status::complete;
      case '-':
        out.type = RespValue::Type::error;
        out.text = line;
        return RespParse::Status::complete;
      case ':':
        out.type = RespValue::Type::integer;
        return number(line, out.integer);
      case '$':
        return bulk(line, out);
      case '*':
        return array(line, out, depth);
      default:
        return RespParse::Status::malformed;
    }
  }

  std::size_t consumed() const { return at_; }

 private:
  RespParse::Status read_line(std::string_view& line) {
    const std::size_t end = bytes_.find("\r\n", at_);
    if (end == std::string_view::npos) return RespParse::Status::incomplete;
    line = bytes_.substr(at_, end - at_);
    at_ = end + 2;
    return RespParse::Status::complete;
  }

  static RespParse::Status number(std::string_view text, std::int64_t& out) {
    const std::from_chars_result parsed =
        std::from_chars(text.data(), text.data() + text.size(), out);
    if (parsed.ec != std::errc() || parsed.ptr != text.data() + text.size())
      return RespParse::Status::malformed;
    return RespParse::Status::complete;
  }

  RespParse::Status bulk(std::string_view line, RespValue& out) {
    std::int64_t size = 0;
    if (number(line, size) != RespParse::Status::complete || size < -1 || size > kBulkBytesMax)
      return RespParse::Status::malformed;
    if (size == -1) {
      out.type = RespValue::Type::null;
      return RespParse::Status::complete;
    }
    const auto length = static_cast<std::size_t>(size);
    if (bytes_.size() - at_ < length + 2) return RespParse::Status::incomplete;
    if (bytes_.compare(at_ + length, 2, "\r\n") != 0) return RespParse::Status::malformed;
    out.type = RespValue::Type::bulk_string;
    out.text = bytes_.substr(at_, length);
    at_ += length + 2;
    return RespParse::Status::complete;
  }

  RespParse::Status array(std::string_view line, RespValue& out, int depth) {
    std::int64_t count = 0;
    if (number(line, count) != RespParse::Status::complete || count < -1 ||
        count > kArrayElementsMax)
      return RespParse::Status::malformed;
    if (count == -1) {
      out.type = RespValue::Type::null;
      return RespParse::Status::complete;
    }
    out.type = RespValue::Type::array;
    out.elements.resize(static_cast<std::size_t>(count));
    for (RespValue& element : out.elements) {
      if (const RespParse::Status status = value(element, depth + 1);
          status != RespParse::Status::complete)
        return status;
    }
    return RespParse::Status::complete;
  }

  std::string_view bytes_;
  std::size_t at_ = 0;
};

}  // namespace

RespParse parse_resp(std::string_view bytes, RespValue& out) {
  Parser parser(bytes);
  const RespParse::Status status = parser.value(out, 0);
  if (status != RespParse::Status::complete) return {status, 0};
  return {status, parser.consumed()};
}

void append_resp_command(std::string& out, std::initializer_list<std::string_view> arguments) {
  char digits[24];
  const auto append_count = [&](char kind, std::size_t count) {
    const std::to_chars_result end = std::to_chars(digits, digits + sizeof digits, count);
    out += kind;
    out.append(digits, end.ptr);
    out += "\r\n";
  };
  append_count('*', arguments.size());
  for (const std::string_view argument : arguments) {
    append_count('$', argument.size());
    out.append(argument);
    out += "\r\n";
  }
}

}  // namespace drl::bench
