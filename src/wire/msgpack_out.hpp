// Writing msgpack into a std::string: the one sink and string helper the encoders share
// (client requests, client answers, cluster datagrams).
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace drl::wire {

// msgpack-c's packer appends through any type with write(data, size).
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

using StringPacker = msgpack::packer<StringSink>;

// Bytes already encoded as msgpack, appended as they are (msgpack-c's pack_str_body appends
// raw bytes).
inline void pack_encoded(StringPacker& pk, std::string_view encoded) {
  pk.pack_str_body(encoded.data(), static_cast<std::uint32_t>(encoded.size()));
}

// A msgpack str of `text`'s bytes. Below 32 bytes (a fixstr: every key of an answer, most
// values), header and body go in one append: an append costs more than the bytes it copies, and
// an answer is mostly such strings. The bytes are msgpack-c's.
inline constexpr std::size_t fixstr_max = 31;
// The one-byte header of a fixstr of `size` bytes (at most fixstr_max).
constexpr char fixstr_header(std::size_t size) {
  return static_cast<char>(0xa0U | size);
}

inline void pack_str(StringPacker& pk, std::string_view text) {
  if (text.size() <= fixstr_max) {
    char bytes[fixstr_max + 1];
    bytes[0] = fixstr_header(text.size());
    if (!text.empty()) std::memcpy(bytes + 1, text.data(), text.size());  // data() may be null
    pack_encoded(pk, std::string_view(bytes, text.size() + 1));
    return;
  }
  pk.pack_str(static_cast<std::uint32_t>(text.size()));
  pk.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

}  // namespace drl::wire
