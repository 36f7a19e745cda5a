// Bytes as hex text and back, for the frozen (golden) bytes of the wire tests: two digits a
// byte, 32 bytes a line; reading takes any whitespace between bytes.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace drl::wire::testing {

inline std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
    out.push_back((i + 1) % 32 == 0 ? '\n' : ' ');
  }
  if (!out.empty()) out.back() = '\n';
  return out;
}

inline std::string from_hex(std::string_view text) {
  std::string out;
  std::istringstream in{std::string(text)};
  std::string token;
  while (in >> token) out.push_back(static_cast<char>(std::stoi(token, nullptr, 16)));
  return out;
}

}  // namespace drl::wire::testing
