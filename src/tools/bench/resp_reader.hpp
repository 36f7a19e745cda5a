// Redis replies (RESP2): simple strings, errors, integers, bulk strings and arrays, read from a
// stream buffer one reply at a time. Strings are views into the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace drl::bench {

struct RespValue {
  enum class Type { simple_string, error, integer, bulk_string, null, array };
  Type type = Type::null;
  std::int64_t integer = 0;
  std::string_view text;  // simple string, error or bulk string
  std::vector<RespValue> elements;
};

struct RespParse {
  enum class Status { complete, incomplete, malformed };
  Status status = Status::incomplete;
  std::size_t bytes = 0;  // the reply's size when complete
};

// Reads the reply at the start of `bytes` into `out` (whose element storage is reused).
// Arrays nest at most 8 deep.
RespParse parse_resp(std::string_view bytes, RespValue& out);

// A command as RESP: an array of bulk strings, appended to `out`.
void append_resp_command(std::string& out, std::initializer_list<std::string_view> arguments);

}  // namespace drl::bench
