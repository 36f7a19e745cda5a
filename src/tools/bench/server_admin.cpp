#include "tools/bench/server_admin.hpp"

#include <charconv>
#include <stdexcept>

#include "core/bounds.hpp"
#include "tools/bench/file_descriptor.hpp"
#include "tools/bench/process_stats.hpp"
#include "tools/bench/resp_reader.hpp"
#include "tools/bench/unix_socket.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"

namespace drl::bench {
namespace {

std::uint64_t parse_uint(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const std::from_chars_result parsed =
      std::from_chars(text.data(), text.data() + text.size(), value);
  if (parsed.ec != std::errc() || parsed.ptr == text.data())
    throw std::runtime_error("unreadable " + std::string(what) + ": '" + std::string(text) + "'");
  return value;
}

std::size_t frame_size(std::string_view bytes) {
  if (bytes.size() < bounds::frame_header_bytes) return 0;
  const auto* header = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t body = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                           (std::size_t{header[2]} << 8) | std::size_t{header[3]};
  if (body > bounds::frame_bytes_max) throw std::runtime_error("answer frame too large");
  return bytes.size() < bounds::frame_header_bytes + body ? 0 : bounds::frame_header_bytes + body;
}

std::size_t resp_size(std::string_view bytes) {
  RespValue scratch;
  const RespParse parsed = parse_resp(bytes, scratch);
  if (parsed.status == RespParse::Status::malformed)
    throw std::runtime_error("malformed Redis reply");
  return parsed.bytes;
}

// One Redis command and its reply, which must not be an error.
std::string redis_call(const std::string& socket_path,
                       std::initializer_list<std::string_view> arguments) {
  std::string request;
  append_resp_command(request, arguments);
  const FileDescriptor fd(connect_unix(socket_path, false));
  std::string answer = exchange(fd.get(), request, resp_size);
  RespValue reply;
  if (parse_resp(answer, reply).status != RespParse::Status::complete)
    throw std::runtime_error("unreadable Redis reply");
  if (reply.type == RespValue::Type::error)
    throw std::runtime_error("Redis: " + std::string(reply.text));
  return answer;
}

// A "name:value" line of an INFO section.
std::uint64_t info_field(std::string_view info, std::string_view name) {
  const std::string prefix = "\n" + std::string(name) + ":";
  const std::string_view text = info;
  std::size_t at = text.find(prefix);
  if (at == std::string_view::npos) throw std::runtime_error("INFO lacks " + std::string(name));
  at += prefix.size();
  const std::size_t end = text.find('\r', at);
  return parse_uint(text.substr(at, end - at), name);
}

ServerSnapshot redis_snapshot(const std::string& socket_path) {
  ServerSnapshot snapshot;
  const std::string server = redis_call(socket_path, {"INFO", "server"});
  snapshot.pid = static_cast<pid_t>(info_field(server, "process_id"));
  const std::string memory = redis_call(socket_path, {"INFO", "memory"});
  snapshot.memory_bytes = info_field(memory, "used_memory");
  const std::string dbsize = redis_call(socket_path, {"DBSIZE"});
  RespValue reply;
  (void)parse_resp(dbsize, reply);
  snapshot.keys = static_cast<std::uint64_t>(reply.integer);
  return snapshot;
}

ServerSnapshot drl_snapshot(const std::string& socket_path) {
  std::string request;
  wire::encode_op_request(request, 1, "status");
  const FileDescriptor fd(connect_unix(socket_path, false));
  const std::string answer = exchange(fd.get(), request, frame_size);
  const Result<wire::Response> decoded =
      wire::decode_response(std::string_view(answer).substr(bounds::frame_header_bytes));
  if (!decoded.ok()) throw std::runtime_error("drld status: " + decoded.error().message);
  if (decoded->error) throw std::runtime_error("drld status: " + decoded->error->message);
  ServerSnapshot snapshot;
  bool has_keys = false;
  bool has_memory = false;
  for (const auto& [name, text] : decoded->status.fields) {
    if (name == "pid") {
      snapshot.pid = static_cast<pid_t>(parse_uint(text, name));
    } else if (name == "keys_tracked") {
      snapshot.keys = parse_uint(text, name);
      has_keys = true;
    } else if (name == "store_memory_bytes") {
      snapshot.memory_bytes = parse_uint(text, name);
      has_memory = true;
    }
  }
  if (!has_keys || !has_memory)
    throw std::runtime_error("drld status lacks keys_tracked or store_memory_bytes");
  return snapshot;
}

}  // namespace

ServerSnapshot take_snapshot(ServerKind kind, const std::string& socket_path) {
  ServerSnapshot snapshot =
      kind == ServerKind::drl ? drl_snapshot(socket_path) : redis_snapshot(socket_path);
  if (snapshot.pid > 0) snapshot.rss_bytes = process_rss_bytes(snapshot.pid).value_or(0);
  return snapshot;
}

std::string load_redis_script(const std::string& socket_path, std::string_view script) {
  const std::string answer = redis_call(socket_path, {"SCRIPT", "LOAD", script});
  RespValue reply;
  (void)parse_resp(answer, reply);
  if (reply.type != RespValue::Type::bulk_string || reply.text.size() != 40)
    throw std::runtime_error("SCRIPT LOAD did not answer a SHA-1");
  return std::string(reply.text);
}

}  // namespace drl::bench
