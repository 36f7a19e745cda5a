#include "wire/utf8.hpp"

#include <doctest/doctest.h>

#include <string>

using drl::wire::escape_control_bytes;
using drl::wire::first_invalid_utf8;
using drl::wire::utf8_sequence_length;

TEST_CASE("utf8: ASCII and well-formed sequences of every length are UTF-8") {
  CHECK_FALSE(first_invalid_utf8("").has_value());
  CHECK_FALSE(first_invalid_utf8("plain ascii").has_value());
  CHECK_FALSE(first_invalid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80").has_value());
  CHECK(utf8_sequence_length("\xc3\xa9", 0) == 2);
  CHECK(utf8_sequence_length("\xe2\x82\xac", 0) == 3);
  CHECK(utf8_sequence_length("\xf0\x9f\x98\x80", 0) == 4);
  CHECK_FALSE(first_invalid_utf8("\xef\xbf\xbf\xf4\x8f\xbf\xbf").has_value());  // U+FFFF, U+10FFFF
}

TEST_CASE(
    "utf8: a stray continuation byte, a truncated sequence and a bad lead are found at "
    "their offset") {
  CHECK(first_invalid_utf8("ab\x80").value() == 2);
  CHECK(first_invalid_utf8("ab\xe2\x82").value() == 2);
  CHECK(first_invalid_utf8("a\xc3(").value() == 1);
  CHECK(first_invalid_utf8("\xff").value() == 0);
  CHECK(first_invalid_utf8("ok\xf8\x88\x80\x80\x80").value() == 2);
}

TEST_CASE(
    "utf8: overlong forms, surrogates and code points above U+10FFFF are not UTF-8, as "
    "protobuf requires of a string") {
  CHECK(first_invalid_utf8("\xc0\xaf").has_value());          // '/' in two bytes
  CHECK(first_invalid_utf8("\xc1\xbf").has_value());          // overlong, two bytes
  CHECK(first_invalid_utf8("\xe0\x80\xaf").has_value());      // '/' in three bytes
  CHECK(first_invalid_utf8("\xe0\x9f\xbf").has_value());      // overlong, three bytes
  CHECK(first_invalid_utf8("\xf0\x80\x80\xaf").has_value());  // '/' in four bytes
  CHECK(first_invalid_utf8("\xed\xa0\x80").has_value());      // U+D800
  CHECK(first_invalid_utf8("\xed\xbf\xbf").has_value());      // U+DFFF
  CHECK(first_invalid_utf8("\xf4\x90\x80\x80").has_value());  // U+110000
  CHECK(first_invalid_utf8("\xf5\x80\x80\x80").has_value());
  CHECK_FALSE(first_invalid_utf8("\xed\x9f\xbf").has_value());  // U+D7FF, the last before
}

TEST_CASE("utf8: control bytes are escaped as \\xNN, everything else is kept") {
  CHECK(escape_control_bytes("evil\nkey") == "evil\\x0akey");
  CHECK(escape_control_bytes(std::string("a\0b\x7f", 4)) == "a\\x00b\\x7f");
  CHECK(escape_control_bytes("caf\xc3\xa9 \"ok\"") == "caf\xc3\xa9 \"ok\"");
}
