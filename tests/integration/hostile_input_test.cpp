// Hostile bytes on drld's socket, sent over a raw socket rather than the client library. Every
// case ends the same way: drld is alive, another connection checks normally, and the counts made
// before the attack did not move.
#include <doctest/doctest.h>

#include <msgpack.hpp>

#include <random>
#include <vector>

#include "daemon_process.hpp"
#include "raw_connection.hpp"

namespace drl::integration {
namespace {

constexpr std::uint64_t kLimit = 10;
constexpr std::uint64_t kCountedBefore = 2;

constexpr std::size_t kMaxRequestBytes = 4096;

const char* const kConfig = R"([node]
socket = "@SOCKET@"

[bounds]
max_request_bytes = 4096

[[policy]]
name = "p"
limit = 10
window = "1h"
)";

// A msgpack map written field by field, so that a test can put any type anywhere.
class Body {
 public:
  Body& text(std::string_view name, std::string_view value) {
    key(name);
    pack_text(value);
    return *this;
  }
  Body& number(std::string_view name, std::uint64_t value) {
    key(name);
    Sink sink{fields_};
    msgpack::packer<Sink>(sink).pack_uint64(value);
    return *this;
  }
  Body& negative(std::string_view name, std::int64_t value) {
    key(name);
    Sink sink{fields_};
    msgpack::packer<Sink>(sink).pack_int64(value);
    return *this;
  }
  Body& nil(std::string_view name) {
    key(name);
    Sink sink{fields_};
    msgpack::packer<Sink>(sink).pack_nil();
    return *this;
  }
  // The map header goes first; written last, once the number of entries is known.
  std::string frame() const {
    std::string header;
    Sink sink{header};
    msgpack::packer<Sink>(sink).pack_map(entries_);
    return frame_of(header + fields_);
  }

 private:
  struct Sink {
    std::string& out;
    void write(const char* data, std::size_t size) { out.append(data, size); }
  };
  void key(std::string_view name) {
    ++entries_;
    pack_text(name);
  }
  void pack_text(std::string_view value) {
    Sink sink{fields_};
    msgpack::packer<Sink> pk(sink);
    pk.pack_str(static_cast<std::uint32_t>(value.size()));
    pk.pack_str_body(value.data(), static_cast<std::uint32_t>(value.size()));
  }

  std::string fields_;
  std::uint32_t entries_ = 0;
};

// A daemon with policy p (10 per hour) where key "victim" has been counted twice.
class Target {
 public:
  Target() : drld_(dir_, with_config(kConfig)) {
    drld_.require_ready();
    drl::Client client = drld_.connect();
    for (std::uint64_t i = 0; i < kCountedBefore; ++i) {
      const auto decision = client.check(drl::CheckRequest{"p", "victim"});
      REQUIRE(decision.ok());
      REQUIRE(decision->allowed);
    }
  }

  const std::string& socket() const { return drld_.socket_path(); }
  std::string log() const { return drld_.log(); }

  // The end of every case.
  void expect_unharmed() {
    REQUIRE(drld_.running());
    drl::Client client = drld_.connect();
    REQUIRE(client.ping().ok());
    const auto bystander = client.check(drl::CheckRequest{"p", "bystander"});
    REQUIRE(bystander.ok());
    CHECK(bystander->allowed);
    CHECK(bystander->remaining == kLimit - 1);
    const auto peek = client.check(drl::CheckRequest{"p", "victim", 0});
    REQUIRE(peek.ok());
    CHECK(peek->remaining == kLimit - kCountedBefore);
  }

 private:
  TempDir dir_;
  DaemonProcess drld_;
};

ResponseFields read_response(RawConnection& connection) {
  std::string body;
  const RawConnection::Read read = connection.read_frame(body);
  REQUIRE(read == RawConnection::Read::frame);
  return decode_response(body);
}

void expect_error(const ResponseFields& response, const std::string& code) {
  CAPTURE(response.count("message") != 0 ? response.at("message") : std::string("(no message)"));
  REQUIRE(response.count("error") == 1);
  CHECK(response.at("error") == code);
  CHECK_FALSE(response.at("message").empty());
  CHECK(response.at("v") == "1");
}

// A valid ping on `connection` is answered: the stream is still in step.
void expect_connection_usable(RawConnection& connection, std::uint64_t id) {
  connection.send_bytes(ping_frame(id));
  const ResponseFields pong = read_response(connection);
  CHECK(pong.count("error") == 0);
  CHECK(pong.at("pong") == "true");
  CHECK(pong.at("id") == std::to_string(id));
}

TEST_CASE(
    "hostile input: random garbage gets error frames or a closed connection, never a "
    "crash") {
  Target target;
  INFO("drld log:\n" << target.log());
  std::mt19937 random(20240607);  // fixed: a failure reproduces
  auto byte = [&random] { return static_cast<char>(random() & 0xff); };

  // Frames with valid headers and random bodies: one error answer per frame, in order.
  {
    RawConnection connection(target.socket());
    constexpr int kFrames = 300;
    std::string stream;
    for (int i = 0; i < kFrames; ++i) {
      std::string body(1 + random() % 64, '\0');
      for (char& c : body) c = byte();
      stream += frame_of(body);
    }
    connection.send_bytes(stream);
    for (int i = 0; i < kFrames; ++i) {
      CAPTURE(i);
      const ResponseFields response = read_response(connection);
      REQUIRE(response.count("error") == 1);
    }
    expect_connection_usable(connection, 1);
  }

  // Raw random bytes, headers included: whatever drld makes of them, it answers with errors
  // only, and the connection ends once this side stops sending.
  for (int round = 0; round < 8; ++round) {
    CAPTURE(round);
    RawConnection connection(target.socket());
    std::string junk(4096, '\0');
    for (char& c : junk) c = byte();
    try {
      connection.send_bytes(junk, 2s);
    } catch (const std::exception&) {
      // drld may close first (an oversized header): that is one of the allowed outcomes.
    }
    connection.shutdown_write();
    std::string body;
    for (;;) {
      const RawConnection::Read read = connection.read_frame(body);
      REQUIRE(read != RawConnection::Read::timeout);
      if (read == RawConnection::Read::closed) break;
      CHECK(decode_response(body).count("error") == 1);
    }
  }
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: a header announcing 1 GiB gets a too_large error frame, then the "
    "connection is closed") {
  Target target;
  INFO("drld log:\n" << target.log());
  RawConnection connection(target.socket());
  connection.send_bytes(header_of(1U << 30));
  const ResponseFields response = read_response(connection);
  expect_error(response, "too_large");
  CHECK(connection.wait_closed(5s));
  CHECK(connection.frames_discarded() == 0);
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: a frame of exactly max_request_bytes is served, one byte more is "
    "too_large") {
  Target target;
  INFO("drld log:\n" << target.log());
  // A ping padded with a field the server ignores, to an exact body size.
  auto padded_ping = [](std::uint64_t id, std::size_t body_bytes) {
    const std::string empty =
        Body{}.number("v", 1).number("id", id).text("op", "ping").text("pad", "").frame();
    // The pad's string header grows from 1 to 3 bytes past 31 bytes (str8 is 2, str16 is 3).
    const std::size_t fixed = empty.size() - 4 - 1;
    const std::size_t pad = body_bytes - fixed - 3;
    const std::string frame = Body{}
                                  .number("v", 1)
                                  .number("id", id)
                                  .text("op", "ping")
                                  .text("pad", std::string(pad, 'x'))
                                  .frame();
    REQUIRE(frame.size() == 4 + body_bytes);
    return frame;
  };
  RawConnection connection(target.socket());
  connection.send_bytes(padded_ping(1, kMaxRequestBytes));
  const ResponseFields pong = read_response(connection);
  CHECK(pong.count("error") == 0);
  CHECK(pong.at("pong") == "true");

  connection.send_bytes(padded_ping(2, kMaxRequestBytes + 1));
  expect_error(read_response(connection), "too_large");
  CHECK(connection.wait_closed(5s));
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: invalid msgpack in a valid frame gets malformed_request and the "
    "connection stays usable") {
  Target target;
  INFO("drld log:\n" << target.log());
  RawConnection connection(target.socket());
  // 0xc1 is never used by msgpack; 0x92 0x01 is an array that ends early; 0x81 0xa1 'v' lacks
  // the value of its one field; then an array, a bare integer and an empty frame.
  const std::vector<std::string> bodies{"\xc1", "\x92\x01", "\x81\xa1v", "\x93\x01\x02\x03",
                                        "\x05", ""};
  std::uint64_t id = 100;
  for (const std::string& body : bodies) {
    CAPTURE(id);
    connection.send_bytes(frame_of(body));
    expect_error(read_response(connection), "malformed_request");
    expect_connection_usable(connection, ++id);
  }
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: a frame truncated by a close, or a hang-up before the answers, leaves "
    "drld serving") {
  Target target;
  INFO("drld log:\n" << target.log());
  {
    RawConnection connection(target.socket());
    const std::string whole = Body{}
                                  .number("v", 1)
                                  .number("id", 1)
                                  .text("op", "check")
                                  .text("policy", "p")
                                  .text("key", "victim")
                                  .frame();
    connection.send_bytes(whole.substr(0, whole.size() - 3));
  }
  {
    // A header alone, then a close.
    RawConnection connection(target.socket());
    connection.send_bytes(header_of(100));
  }
  {
    // Half a header, then a half-close: drld ends the connection without an answer.
    RawConnection connection(target.socket());
    connection.send_bytes(std::string("\x00\x00", 2));
    connection.shutdown_write();
    CHECK(connection.wait_closed(5s));
    CHECK(connection.frames_discarded() == 0);
  }
  // Clients that pipeline requests and hang up before reading any answer: drld's writes fail,
  // and that is all.
  std::string pings;
  for (int i = 0; i < 100; ++i) pings += ping_frame(static_cast<std::uint64_t>(i));
  for (int i = 0; i < 50; ++i) {
    RawConnection connection(target.socket());
    connection.send_bytes(pings);
  }
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: wrongly typed fields get malformed_request with the request id and "
    "count nothing") {
  Target target;
  INFO("drld log:\n" << target.log());
  RawConnection connection(target.socket());
  auto check = [] { return Body{}.number("v", 1).text("op", "check"); };
  struct Case {
    const char* what;
    std::string frame;
  };
  const Case cases[] = {
      {"cost as a string", check()
                               .number("id", 11)
                               .text("policy", "p")
                               .text("key", "victim")
                               .text("cost", "1")
                               .frame()},
      {"key as an integer", check().number("id", 12).text("policy", "p").number("key", 42).frame()},
      {"policy as an integer",
       check().number("id", 13).number("policy", 7).text("key", "victim").frame()},
      {"negative cost", check()
                            .number("id", 14)
                            .text("policy", "p")
                            .text("key", "victim")
                            .negative("cost", -1)
                            .frame()},
      {"detail as a string", check()
                                 .number("id", 15)
                                 .text("policy", "p")
                                 .text("key", "victim")
                                 .text("detail", "yes")
                                 .frame()},
      {"items not an array", check().number("id", 16).text("items", "victim").frame()},
      {"op as nil", Body{}.number("v", 1).number("id", 17).nil("op").frame()},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    connection.send_bytes(c.frame);
    const ResponseFields response = read_response(connection);
    expect_error(response, "malformed_request");
  }
  // The ids came back with the errors, so that a pipelining client can match them.
  connection.send_bytes(cases[0].frame);
  CHECK(read_response(connection).at("id") == "11");
  // A batch mixing a wrongly typed check with a valid one: each answered on its own, and only
  // the valid one counts (on another key, so that victim's count stays as it was).
  std::string batch_body;
  {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> pk(buffer);
    pk.pack_map(4);
    pk.pack(std::string("v"));
    pk.pack(1);
    pk.pack(std::string("id"));
    pk.pack(20);
    pk.pack(std::string("op"));
    pk.pack(std::string("batch"));
    pk.pack(std::string("checks"));
    pk.pack_array(2);
    pk.pack_map(3);
    pk.pack(std::string("policy"));
    pk.pack(std::string("p"));
    pk.pack(std::string("key"));
    pk.pack(std::string("victim"));
    pk.pack(std::string("cost"));
    pk.pack(std::string("9"));
    pk.pack_map(2);
    pk.pack(std::string("policy"));
    pk.pack(std::string("p"));
    pk.pack(std::string("key"));
    pk.pack(std::string("batch-key"));
    batch_body.assign(buffer.data(), buffer.size());
  }
  connection.send_bytes(frame_of(batch_body));
  const ResponseFields batch = read_response(connection);
  CAPTURE(batch.at("results"));
  CHECK(batch.count("error") == 0);
  CHECK(batch.at("id") == "20");
  CHECK(batch.at("results").find("malformed_request") != std::string::npos);
  CHECK(batch.at("results").find("\"allowed\":true") != std::string::npos);
  expect_connection_usable(connection, 21);
  target.expect_unharmed();
}

TEST_CASE("hostile input: an unknown op gets unknown_op and the connection stays usable") {
  Target target;
  INFO("drld log:\n" << target.log());
  RawConnection connection(target.socket());
  connection.send_bytes(
      Body{}.number("v", 1).number("id", 5).text("op", "drop_all_counts").frame());
  const ResponseFields response = read_response(connection);
  expect_error(response, "unknown_op");
  CHECK(response.at("id") == "5");
  CHECK(response.at("message").find("drop_all_counts") != std::string::npos);
  expect_connection_usable(connection, 6);
  target.expect_unharmed();
}

TEST_CASE(
    "hostile input: protocol version 99 gets unsupported_version and the connection stays "
    "usable") {
  Target target;
  INFO("drld log:\n" << target.log());
  RawConnection connection(target.socket());
  connection.send_bytes(Body{}
                            .number("v", 99)
                            .number("id", 8)
                            .text("op", "check")
                            .text("policy", "p")
                            .text("key", "victim")
                            .frame());
  const ResponseFields response = read_response(connection);
  expect_error(response, "unsupported_version");
  CHECK(response.at("id") == "8");
  expect_connection_usable(connection, 9);
  target.expect_unharmed();
}

}  // namespace
}  // namespace drl::integration
