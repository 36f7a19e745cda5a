#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace drl::wire {

// UTF-8 as RFC 3629 defines it (what protobuf requires of a proto3 string, and YAML of a file):
// no overlong forms, no surrogates, nothing above U+10FFFF.

// The length (1 to 4) of the well-formed sequence that starts at text[at], or 0 if none does.
std::size_t utf8_sequence_length(std::string_view text, std::size_t at);

// The offset of the first byte that starts no well-formed sequence; nullopt if `text` is UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view text);

// `text` with every control byte (below 0x20, and 0x7f) written as \xNN: what callers sent (a
// key, a reason) printed on one line of a log or a terminal, and unable to forge another.
std::string escape_control_bytes(std::string_view text);

}  // namespace drl::wire
