#include "wire/msgpack_out.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

// What msgpack-c itself writes for `text`: a header, then the body.
std::string msgpack_c_str(const std::string& text) {
  std::string out;
  drl::wire::StringSink sink{out};
  drl::wire::StringPacker pk(sink);
  pk.pack_str(static_cast<std::uint32_t>(text.size()));
  pk.pack_str_body(text.data(), static_cast<std::uint32_t>(text.size()));
  return out;
}

std::string ours(const std::string& text) {
  std::string out;
  drl::wire::StringSink sink{out};
  drl::wire::StringPacker pk(sink);
  drl::wire::pack_str(pk, text);
  return out;
}

}  // namespace

TEST_CASE("msgpack out: pack_str writes msgpack-c's bytes on both sides of the fixstr bound") {
  for (const std::size_t size : {0, 1, 5, 30, 31, 32, 33, 255, 256, 70'000}) {
    const std::string text(size, 'k');
    INFO("size " << size);
    CHECK(ours(text) == msgpack_c_str(text));
  }
  CHECK(ours("hard") == std::string("\xa4hard"));
  CHECK(static_cast<unsigned char>(ours(std::string(31, 'x'))[0]) == 0xbf);  // fixstr
  CHECK(static_cast<unsigned char>(ours(std::string(32, 'x'))[0]) == 0xd9);  // str8
}

TEST_CASE("msgpack out: pack_encoded appends its bytes as they are") {
  std::string out;
  drl::wire::StringSink sink{out};
  drl::wire::StringPacker pk(sink);
  drl::wire::pack_str(pk, "a");
  drl::wire::pack_encoded(pk, ours("enforcement") + ours("hard"));
  CHECK(out == std::string("\xa1"
                           "a\xab"
                           "enforcement\xa4"
                           "hard"));
}
