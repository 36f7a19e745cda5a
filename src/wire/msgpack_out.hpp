// Writing msgpack into a std::string: the one sink and string helper the encoders share
// (client requests, client answers, cluster datagrams).
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace drl::wire {

// msgpack-c's packer appends through any type with write(data, size).
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

using StringPacker = msgpack::packer<StringSink>;

// A msgpack str of `text`'s bytes (msgpack-c's pack_str takes the header and body apart).
inline void pack_str(StringPacker& pk, std::string_view text) {
  pk.pack_str(static_cast<std::uint32_t>(text.size()));
  pk.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
}

}  // namespace drl::wire
