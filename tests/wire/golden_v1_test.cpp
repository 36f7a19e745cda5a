// Frozen bytes of client protocol version 1. The protocol is append-only: today's encoder must
// produce every field the frozen bytes have, with the same value (it may add fields), and
// today's decoders must read the frozen bytes. If one of these tests fails, a change broke
// compatibility with clients or servers in the field. (To freeze files for a NEW version, run
// with DRL_UPDATE_GOLDEN=1 and review the diff.)
#include <doctest/doctest.h>

#include <msgpack.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "hex_text.hpp"
#include "wire/request_decoder.hpp"
#include "wire/request_encoder.hpp"
#include "wire/response_decoder.hpp"
#include "wire/response_encoder.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

using drl::wire::testing::from_hex;
using drl::wire::testing::to_hex;

std::string golden_path(const std::string& name) {
  const char* root = std::getenv("DRL_SOURCE_ROOT");
  REQUIRE_MESSAGE(root != nullptr, "DRL_SOURCE_ROOT must point at the source tree");
  return std::string(root) + "/tests/golden/client_v1/" + name + ".hex";
}

// True if `now` holds everything `frozen` holds: maps may have gained keys, nothing else changed.
bool extends(const msgpack::object& frozen, const msgpack::object& now, std::string& where) {
  if (frozen.type != now.type) {
    where += " (type changed)";
    return false;
  }
  if (frozen.type == msgpack::type::MAP) {
    for (std::uint32_t i = 0; i < frozen.via.map.size; ++i) {
      const msgpack::object& key = frozen.via.map.ptr[i].key;
      const msgpack::object* match = nullptr;
      for (std::uint32_t j = 0; j < now.via.map.size; ++j) {
        if (now.via.map.ptr[j].key == key) match = &now.via.map.ptr[j].val;
      }
      std::string field = where + "." + key.as<std::string>();
      if (match == nullptr) {
        where = field + " (missing)";
        return false;
      }
      if (!extends(frozen.via.map.ptr[i].val, *match, field)) {
        where = field;
        return false;
      }
    }
    return true;
  }
  if (frozen.type == msgpack::type::ARRAY) {
    if (frozen.via.array.size != now.via.array.size) {
      where += " (length changed)";
      return false;
    }
    for (std::uint32_t i = 0; i < frozen.via.array.size; ++i) {
      std::string element = where + "[" + std::to_string(i) + "]";
      if (!extends(frozen.via.array.ptr[i], now.via.array.ptr[i], element)) {
        where = element;
        return false;
      }
    }
    return true;
  }
  if (!(frozen == now)) where += " (value changed)";
  return frozen == now;
}

// The frames of a byte stream.
std::vector<std::string> frames_of(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at + 4 <= bytes.size()) {
    const auto* h = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const std::size_t size = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                             (std::size_t{h[2]} << 8) | std::size_t{h[3]};
    out.push_back(bytes.substr(at + 4, size));
    at += 4 + size;
  }
  return out;
}

// Checks that `bytes` extends the frozen file frame by frame (or writes it when updating), and
// returns the frozen bytes.
std::string golden(const std::string& name, const std::string& bytes) {
  const std::string path = golden_path(name);
  if (const char* update = std::getenv("DRL_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path) << to_hex(bytes);
  }
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), (std::string("missing golden file ") + path));
  std::stringstream text;
  text << in.rdbuf();
  const std::string frozen = from_hex(text.str());
  const std::vector<std::string> frozen_frames = frames_of(frozen);
  const std::vector<std::string> now_frames = frames_of(bytes);
  REQUIRE(frozen_frames.size() == now_frames.size());
  for (std::size_t i = 0; i < frozen_frames.size(); ++i) {
    const msgpack::object_handle old_object =
        msgpack::unpack(frozen_frames[i].data(), frozen_frames[i].size());
    const msgpack::object_handle new_object =
        msgpack::unpack(now_frames[i].data(), now_frames[i].size());
    std::string where = name + " frame " + std::to_string(i);
    CHECK_MESSAGE(extends(old_object.get(), new_object.get(), where), where);
  }
  return frozen;
}

core::CheckOutcome denied_outcome(std::shared_ptr<const core::PolicySet>& keep) {
  auto parsed = config::parse_config(R"(
    [[policy]]
    name = "demo"
    limit = 2
    window = "10s"
  )",
                                     "golden");
  REQUIRE(parsed.ok());
  keep = parsed->policies;
  static core::CounterStore store(core::StoreOptions{16, 1});
  core::CheckEngine engine(store, 0);
  core::CheckOutcome outcome;
  const core::CheckItem item{"demo", "alice", "", "", 1};
  for (int i = 0; i < 3; ++i) {
    engine.check(*keep, core::WallTime{1'800'000'004'000}, std::span(&item, 1), outcome);
  }
  return outcome;
}

}  // namespace

TEST_CASE("golden v1: a check request is encoded to the frozen bytes and decodes back") {
  std::string framed;
  const CheckRequest item{"demo", "alice", 1, "pro", "GET /items"};
  encode_check_request(framed, 1, std::span<const CheckRequest>(&item, 1), false);
  const std::string frozen = golden("check_request", framed);
  RequestDecoder decoder(1024, 65536);
  Request request;
  REQUIRE(decoder.decode(std::string_view(frozen).substr(4), request).ok());
  CHECK(request.id == 1);
  CHECK(request.items[0].policy == "demo");
  CHECK(request.items[0].key == "alice");
  CHECK(request.items[0].tier == "pro");
  CHECK(request.items[0].endpoint == "GET /items");
}

TEST_CASE("golden v1: a compound check, a batch, ping, reload and status requests are frozen") {
  const CheckRequest items[] = {{"user", "u1", 1, "", ""}, {"tenant", "acme", 2, "", ""}};
  std::string compound;
  encode_check_request(compound, 2, items, true);
  golden("compound_check_request", compound);
  std::string batch;
  encode_batch_request(batch, 3, items, false);
  golden("batch_request", batch);
  std::string ops;
  encode_op_request(ops, 4, "ping");
  encode_op_request(ops, 5, "reload");
  encode_op_request(ops, 6, "status");
  golden("op_requests", ops);
}

TEST_CASE("golden v1: a denied decision is encoded to the frozen bytes and decodes back") {
  std::shared_ptr<const core::PolicySet> policies;
  const core::CheckOutcome outcome = denied_outcome(policies);
  REQUIRE_FALSE(outcome.allowed);
  std::string framed;
  ResponseEncoder(framed).decision(1, outcome, false);
  const std::string frozen = golden("denied_response", framed);
  const Result<Response> response = decode_response(std::string_view(frozen).substr(4));
  REQUIRE(response.ok());
  CHECK_FALSE(response->decision.allowed);
  CHECK(response->decision.limit == 2);
  CHECK(response->decision.remaining == 0);
  CHECK(response->decision.retry_after_ms == 11'000);
  CHECK(response->decision.reset_after_ms == 16'000);
}

TEST_CASE("golden v1: error, batch, pong and reload answers are frozen") {
  std::string framed;
  ResponseEncoder encoder(framed);
  encoder.error(7, Errc::unknown_policy, "unknown policy 'nope'");
  std::shared_ptr<const core::PolicySet> policies;
  const core::CheckOutcome outcome = denied_outcome(policies);
  encoder.begin_batch(8, 2);
  encoder.batch_decision(outcome, true);
  encoder.batch_error(Errc::empty_key, "field 'key' is missing or empty");
  encoder.end_batch();
  encoder.pong(9, "drld test");
  encoder.reloaded(10, 2, "generation 2: 1 policies in force");
  golden("answers", framed);
}
