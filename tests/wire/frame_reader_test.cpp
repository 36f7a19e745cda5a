#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "wire/frame_reader.hpp"

using drl::wire::FrameReader;

namespace {

std::string frame(const std::string& body) {
  std::string out;
  drl::wire::append_frame_header(out, static_cast<std::uint32_t>(body.size()));
  return out + body;
}

void feed(FrameReader& reader, const std::string& bytes) {
  const auto room = reader.prepare(bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  reader.commit(bytes.size());
}

}  // namespace

TEST_CASE("frames: the header is a 4-byte big-endian length") {
  CHECK(frame("abc") == std::string("\x00\x00\x00\x03"
                                    "abc",
                                    7));
  std::string out;
  drl::wire::append_frame_header(out, 0x01020304);
  CHECK(out == "\x01\x02\x03\x04");
}

TEST_CASE("frames: several frames in one read come out one by one") {
  FrameReader reader(1024);
  feed(reader, frame("one") + frame("two") + frame(""));
  std::string_view out;
  REQUIRE(reader.next(out) == FrameReader::Status::frame);
  CHECK(out == "one");
  REQUIRE(reader.next(out) == FrameReader::Status::frame);
  CHECK(out == "two");
  REQUIRE(reader.next(out) == FrameReader::Status::frame);
  CHECK(out.empty());
  CHECK(reader.next(out) == FrameReader::Status::need_more);
}

TEST_CASE("frames: a frame split over many reads, byte by byte, comes out whole") {
  FrameReader reader(1024);
  const std::string bytes = frame("hello, drl");
  std::string_view out;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    feed(reader, bytes.substr(i, 1));
    CHECK(reader.next(out) == FrameReader::Status::need_more);
  }
  feed(reader, bytes.substr(bytes.size() - 1));
  REQUIRE(reader.next(out) == FrameReader::Status::frame);
  CHECK(out == "hello, drl");
  reader.compact();
  CHECK(reader.buffered_bytes() == 0);
}

TEST_CASE("frames: a header above the bound is refused before its body arrives") {
  FrameReader reader(1024);
  feed(reader, std::string("\x00\x00\x04\x01", 4));
  std::string_view out;
  CHECK(reader.next(out) == FrameReader::Status::too_large);
  FrameReader exact(1024);
  feed(exact, frame(std::string(1024, 'x')));
  CHECK(exact.next(out) == FrameReader::Status::frame);
}

TEST_CASE("frames: text protocols sent by mistake are refused as too large") {
  FrameReader reader(65536);
  feed(reader, "GET / HTTP/1.1\r\n\r\n");
  std::string_view out;
  CHECK(reader.next(out) == FrameReader::Status::too_large);
}

TEST_CASE("frames: the buffer is reused after compaction and does not grow without bound") {
  FrameReader reader(1024);
  std::string_view out;
  for (int i = 0; i < 10'000; ++i) {
    feed(reader, frame(std::string(100, 'a')));
    REQUIRE(reader.next(out) == FrameReader::Status::frame);
    reader.compact();
  }
  CHECK(reader.capacity_bytes() < 4096);
}
