#include "wire/request_decoder.hpp"

#include <msgpack.hpp>

#include <cmath>
#include <limits>

#include "core/bounds.hpp"

namespace drl::wire {
namespace {

struct Invalid {
  Errc code;
  std::string message;
};

// Strings and binaries stay in the frame: no copy, nothing allocated per byte received.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

std::string_view key_of(const msgpack::object_kv& kv) {
  if (kv.key.type != msgpack::type::STR)
    throw Invalid{Errc::malformed_request, "map keys must be strings"};
  return {kv.key.via.str.ptr, kv.key.via.str.size};
}

std::string_view as_string(const msgpack::object& value, std::string_view field) {
  if (value.type != msgpack::type::STR) {
    throw Invalid{Errc::malformed_request, "field '" + std::string(field) + "' must be a string"};
  }
  return {value.via.str.ptr, value.via.str.size};
}

std::uint64_t as_uint(const msgpack::object& value, std::string_view field) {
  if (value.type != msgpack::type::POSITIVE_INTEGER) {
    throw Invalid{Errc::malformed_request,
                  "field '" + std::string(field) + "' must be an unsigned integer"};
  }
  return value.via.u64;
}

bool as_bool(const msgpack::object& value, std::string_view field) {
  if (value.type != msgpack::type::BOOLEAN) {
    throw Invalid{Errc::malformed_request, "field '" + std::string(field) + "' must be a boolean"};
  }
  return value.via.boolean;
}

const msgpack::object_map& as_map(const msgpack::object& value, std::string_view what) {
  if (value.type != msgpack::type::MAP) {
    throw Invalid{Errc::malformed_request, std::string(what) + " must be a map"};
  }
  return value.via.map;
}

// Fills one item from a map that may also hold check-level fields (which it skips).
core::CheckItem decode_item(const msgpack::object_map& map) {
  core::CheckItem item;
  bool has_key = false;
  bool has_policy = false;
  for (std::uint32_t i = 0; i < map.size; ++i) {
    const std::string_view key = key_of(map.ptr[i]);
    const msgpack::object& value = map.ptr[i].val;
    if (key == "policy") {
      item.policy = as_string(value, key);
      has_policy = true;
    } else if (key == "key") {
      if (value.type == msgpack::type::BIN) {
        item.key = {value.via.bin.ptr, value.via.bin.size};
      } else {
        item.key = as_string(value, key);
      }
      has_key = true;
    } else if (key == "cost") {
      item.cost = as_uint(value, key);
      if (item.cost > bounds::limit_max) {
        throw Invalid{Errc::cost_above_limit,
                      "cost " + std::to_string(item.cost) + " is above every possible limit"};
      }
    } else if (key == "tier") {
      item.tier = as_string(value, key);
    } else if (key == "endpoint") {
      item.endpoint = as_string(value, key);
    }
  }
  if (!has_policy) throw Invalid{Errc::malformed_request, "field 'policy' is missing"};
  if (!has_key || item.key.empty())
    throw Invalid{Errc::empty_key, "field 'key' is missing or empty"};
  return item;
}

// A check body: either policy/key/... itself, or items = [{policy, key, ...}, ...].
void decode_check(const msgpack::object& body, Request& out) {
  CheckSpan span;
  span.first = static_cast<std::uint32_t>(out.items.size());
  try {
    const msgpack::object_map& map = as_map(body, "a check");
    const msgpack::object* items = nullptr;
    bool has_item_fields = false;
    for (std::uint32_t i = 0; i < map.size; ++i) {
      const std::string_view key = key_of(map.ptr[i]);
      if (key == "items") items = &map.ptr[i].val;
      if (key == "detail") span.detail = as_bool(map.ptr[i].val, key);
      if (key == "policy" || key == "key") has_item_fields = true;
    }
    if (items != nullptr) {
      if (has_item_fields) {
        throw Invalid{Errc::malformed_request, "a check has either policy/key or items, not both"};
      }
      if (items->type != msgpack::type::ARRAY || items->via.array.size == 0) {
        throw Invalid{Errc::malformed_request, "field 'items' must be a non-empty array"};
      }
      if (items->via.array.size > bounds::items_per_check_max) {
        throw Invalid{
            Errc::too_many_items,
            "a check has at most " + std::to_string(bounds::items_per_check_max) + " items"};
      }
      for (std::uint32_t i = 0; i < items->via.array.size; ++i) {
        out.items.push_back(decode_item(as_map(items->via.array.ptr[i], "an item")));
      }
    } else {
      out.items.push_back(decode_item(map));
    }
  } catch (const Invalid& invalid) {
    out.items.resize(span.first);
    span.error = invalid.code;
    span.error_message = invalid.message;
  }
  span.count = static_cast<std::uint32_t>(out.items.size() - span.first);
  out.checks.push_back(std::move(span));
}

// A name of the override's scope: a string of at most `bytes_max` bytes.
std::string bounded_name(const msgpack::object& value, std::string_view field,
                         std::size_t bytes_max) {
  const std::string_view text = as_string(value, field);
  if (text.size() > bytes_max) {
    throw Invalid{Errc::invalid_argument, "field '" + std::string(field) + "' is longer than " +
                                              std::to_string(bytes_max) + " bytes"};
  }
  return std::string(text);
}

// The scope fields of override_set / override_clear; false if the map has none of them.
bool decode_override_scope(const msgpack::object_map& map, core::OverrideScope& scope) {
  bool has_scope_field = false;
  bool has_policy = false;
  for (std::uint32_t i = 0; i < map.size; ++i) {
    const std::string_view key = key_of(map.ptr[i]);
    const msgpack::object& value = map.ptr[i].val;
    if (key == "policy") {
      scope.policy = bounded_name(value, key, bounds::policy_name_bytes_max);
      has_policy = true;
    } else if (key == "tier") {
      scope.tier = bounded_name(value, key, bounds::tier_name_bytes_max);
    } else if (key == "endpoint") {
      scope.endpoint = bounded_name(value, key, bounds::endpoint_name_bytes_max);
    } else if (key == "window_ms") {
      const std::uint64_t window_ms = as_uint(value, key);
      if (window_ms > bounds::window_ms_max) {
        throw Invalid{Errc::invalid_argument, "field 'window_ms' is above the longest window (" +
                                                  std::to_string(bounds::window_ms_max) + ")"};
      }
      if (window_ms != 0 && !bounds::window_ms_valid(window_ms)) {
        throw Invalid{Errc::invalid_argument,
                      "field 'window_ms' is above 31 days and not whole seconds: no limit has it"};
      }
      scope.window_ms = window_ms;
    } else if (key == "key") {
      const std::string_view text = as_string(value, key);
      if (text.empty()) throw Invalid{Errc::empty_key, "field 'key' is empty"};
      // Shorter than a check's key: the record travels whole in one datagram.
      if (text.size() > bounds::override_key_bytes_max) {
        throw Invalid{Errc::key_too_long,
                      "the key has " + std::to_string(text.size()) +
                          " bytes; an override or a reset names a key of at most " +
                          std::to_string(bounds::override_key_bytes_max)};
      }
      scope.key = std::string(text);
    } else {
      continue;
    }
    has_scope_field = true;
  }
  if (has_scope_field && (!has_policy || scope.policy.empty())) {
    throw Invalid{Errc::malformed_request, "field 'policy' is missing or empty"};
  }
  return has_scope_field;
}

void decode_override_set(const msgpack::object_map& map, OverrideRequest& out) {
  if (!decode_override_scope(map, out.scope)) {
    throw Invalid{Errc::malformed_request, "field 'policy' is missing"};
  }
  bool has_ttl = false;
  for (std::uint32_t i = 0; i < map.size; ++i) {
    const std::string_view key = key_of(map.ptr[i]);
    const msgpack::object& value = map.ptr[i].val;
    if (key == "block") {
      if (!as_bool(value, key)) continue;
      if (out.kind != core::OverrideKind::cleared) {
        throw Invalid{Errc::malformed_request,
                      "an override has one of 'limit', 'factor_permille' and 'block'"};
      }
      out.kind = core::OverrideKind::block;
    } else if (key == "limit" || key == "factor_permille") {
      if (out.kind != core::OverrideKind::cleared) {
        throw Invalid{Errc::malformed_request,
                      "an override has one of 'limit', 'factor_permille' and 'block'"};
      }
      out.kind = key == "limit" ? core::OverrideKind::limit : core::OverrideKind::factor;
      out.value = as_uint(value, key);
      if (out.value == 0) {
        throw Invalid{Errc::invalid_argument,
                      "field '" + std::string(key) + "' must be at least 1"};
      }
      if (out.kind == core::OverrideKind::limit && out.value > bounds::limit_max) {
        throw Invalid{Errc::invalid_argument, "field 'limit' is above the largest limit (" +
                                                  std::to_string(bounds::limit_max) + ")"};
      }
    } else if (key == "ttl_ms") {
      const std::uint64_t ttl_ms = as_uint(value, key);
      // The table bounds the TTL precisely; this only keeps the value a positive int64.
      if (ttl_ms == 0 ||
          ttl_ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max() / 2)) {
        throw Invalid{Errc::invalid_argument, "field 'ttl_ms' must be at least 1 (and sane)"};
      }
      out.ttl_ms = static_cast<std::int64_t>(ttl_ms);
      has_ttl = true;
    } else if (key == "reason") {
      out.reason = std::string(as_string(value, key));
    }
  }
  if (out.kind == core::OverrideKind::cleared) {
    throw Invalid{Errc::malformed_request,
                  "field 'limit', 'factor_permille' or 'block' is missing"};
  }
  if (out.kind == core::OverrideKind::block && out.scope.key.empty()) {
    throw Invalid{Errc::invalid_argument, "'block' applies to one key: field 'key' is missing"};
  }
  if (!has_ttl) throw Invalid{Errc::malformed_request, "field 'ttl_ms' is missing"};
}

// Op key_reset: the scope of a check (policy and key; tier and endpoint as a check names them)
// and an optional reason.
void decode_key_reset(const msgpack::object_map& map, OverrideRequest& out) {
  if (!decode_override_scope(map, out.scope)) {
    throw Invalid{Errc::malformed_request, "field 'policy' is missing"};
  }
  if (out.scope.key.empty()) throw Invalid{Errc::empty_key, "field 'key' is missing"};
  if (out.scope.window_ms != 0) {
    throw Invalid{Errc::invalid_argument,
                  "a key reset forgets every window of the key: 'window_ms' does not apply"};
  }
  for (std::uint32_t i = 0; i < map.size; ++i) {
    if (key_of(map.ptr[i]) == "reason")
      out.reason = std::string(as_string(map.ptr[i].val, "reason"));
  }
  out.scope.counts_reset = true;
  out.kind = core::OverrideKind::reset;
}

void decode_override_clear(const msgpack::object_map& map, OverrideRequest& out) {
  for (std::uint32_t i = 0; i < map.size; ++i) {
    if (key_of(map.ptr[i]) == "all") out.all = as_bool(map.ptr[i].val, "all");
  }
  const bool has_scope = decode_override_scope(map, out.scope);
  if (out.all && has_scope) {
    throw Invalid{Errc::malformed_request, "override_clear takes either a scope or all, not both"};
  }
  if (!out.all && !has_scope) {
    throw Invalid{Errc::malformed_request, "field 'policy' is missing (or 'all': true)"};
  }
}

// Signal names become metric label values and log text: a small, safe alphabet (that of the
// config's names, so that every name a config can follow can be reported).
bool is_signal_name_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

void decode_report(const msgpack::object_map& map, SignalReport& out) {
  bool has_signal = false;
  bool has_value = false;
  for (std::uint32_t i = 0; i < map.size; ++i) {
    const std::string_view key = key_of(map.ptr[i]);
    const msgpack::object& value = map.ptr[i].val;
    if (key == "signal") {
      out.name = as_string(value, key);
      has_signal = true;
    } else if (key == "value") {
      switch (value.type) {
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
          out.value = value.via.f64;
          break;
        case msgpack::type::POSITIVE_INTEGER:
          out.value = static_cast<double>(value.via.u64);
          break;
        case msgpack::type::NEGATIVE_INTEGER:
          out.value = static_cast<double>(value.via.i64);
          break;
        default:
          throw Invalid{Errc::malformed_request, "field 'value' must be a number"};
      }
      has_value = true;
    }
  }
  if (!has_signal) throw Invalid{Errc::malformed_request, "field 'signal' is missing"};
  if (!has_value) throw Invalid{Errc::malformed_request, "field 'value' is missing"};
  if (out.name.empty() || out.name.size() > signal_name_bytes_max) {
    throw Invalid{Errc::invalid_argument, "field 'signal' must be 1 to " +
                                              std::to_string(signal_name_bytes_max) + " bytes"};
  }
  for (char c : out.name) {
    if (!is_signal_name_byte(c)) {
      throw Invalid{Errc::invalid_argument,
                    "field 'signal' may hold only letters, digits and _ - . :"};
    }
  }
  if (!std::isfinite(out.value)) {
    throw Invalid{Errc::invalid_argument, "field 'value' must be a finite number"};
  }
}

}  // namespace

struct RequestDecoder::State {
  msgpack::zone zone;
  msgpack::unpack_limit limit;
  std::size_t max_batch_checks;
};

RequestDecoder::RequestDecoder(std::size_t max_batch_checks, std::size_t max_frame_bytes)
    : state_(std::make_unique<State>()) {
  state_->max_batch_checks = max_batch_checks;
  // Every element of an array, map or string costs at least one byte of the frame, so the
  // frame size bounds them all (and the decoder's memory, at about 24 bytes per element); the
  // batch and item bounds are checked after decoding, with a precise message. Maps: a request
  // has few fields. Depth: request map > checks array > check map > items array > item map.
  // Ext values have no use in the protocol.
  state_->limit = msgpack::unpack_limit(max_frame_bytes, bounds::request_map_entries_max,
                                        max_frame_bytes, max_frame_bytes, 0, 6);
}

RequestDecoder::~RequestDecoder() = default;

Result<Done> RequestDecoder::decode(std::string_view frame, Request& out) {
  out.clear();
  State& state = *state_;
  state.zone.clear();
  try {
    if (frame.empty()) throw Invalid{Errc::malformed_request, "empty frame"};
    std::size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(state.zone, frame.data(), frame.size(), offset, referenced,
                        reference_everything, nullptr, state.limit);
    const msgpack::object_map& map = as_map(root, "a request");
    // The id first, so that later errors can be matched to the request (trailing bytes too: the
    // map before them was read).
    for (std::uint32_t i = 0; i < map.size; ++i) {
      if (map.ptr[i].key.type == msgpack::type::STR && key_of(map.ptr[i]) == "id") {
        out.id = as_uint(map.ptr[i].val, "id");
      }
    }
    if (offset != frame.size()) {
      throw Invalid{Errc::malformed_request, "trailing bytes after the request map"};
    }
    std::string_view op;
    bool has_op = false;
    const msgpack::object* checks = nullptr;
    for (std::uint32_t i = 0; i < map.size; ++i) {
      const std::string_view key = key_of(map.ptr[i]);
      const msgpack::object& value = map.ptr[i].val;
      if (key == "v") {
        const std::uint64_t version = as_uint(value, key);
        if (version == 0) throw Invalid{Errc::malformed_request, "field 'v' must be at least 1"};
        if (version > client_protocol_version) {
          throw Invalid{Errc::unsupported_version,
                        "protocol version " + std::to_string(version) +
                            " is not supported; this server speaks version " +
                            std::to_string(client_protocol_version)};
        }
      } else if (key == "op") {
        op = as_string(value, key);
        has_op = true;
      } else if (key == "checks") {
        checks = &value;
      }
    }
    if (!has_op) throw Invalid{Errc::malformed_request, "field 'op' is missing"};
    if (op == "check") {
      out.op = Op::check;
      decode_check(root, out);
    } else if (op == "batch") {
      out.op = Op::batch;
      if (checks == nullptr || checks->type != msgpack::type::ARRAY) {
        throw Invalid{Errc::malformed_request, "field 'checks' must be an array"};
      }
      if (checks->via.array.size > state.max_batch_checks) {
        throw Invalid{Errc::too_many_items,
                      "a batch has at most " + std::to_string(state.max_batch_checks) + " checks"};
      }
      out.checks.reserve(checks->via.array.size);
      for (std::uint32_t i = 0; i < checks->via.array.size; ++i) {
        decode_check(checks->via.array.ptr[i], out);
      }
    } else if (op == "ping") {
      out.op = Op::ping;
    } else if (op == "reload") {
      out.op = Op::reload;
    } else if (op == "status") {
      out.op = Op::status;
    } else if (op == "inspect") {
      out.op = Op::inspect;
      decode_check(root, out);
      if (out.checks.front().count != 1 && out.checks.front().error == Errc::ok) {
        throw Invalid{Errc::malformed_request, "inspect takes one policy and key, not items"};
      }
    } else if (op == "override_set") {
      out.op = Op::override_set;
      decode_override_set(map, out.override_request);
    } else if (op == "key_reset") {
      out.op = Op::key_reset;
      decode_key_reset(map, out.override_request);
    } else if (op == "override_list") {
      out.op = Op::override_list;
    } else if (op == "override_clear") {
      out.op = Op::override_clear;
      decode_override_clear(map, out.override_request);
    } else if (op == "report") {
      out.op = Op::report;
      decode_report(map, out.report);
    } else {
      throw Invalid{Errc::unknown_op,
                    "unknown op '" + std::string(op.substr(0, 64)) +
                        "' (known: check, batch, ping, reload, status, inspect, override_set, "
                        "override_list, override_clear, key_reset, report)"};
    }
    return Done{};
  } catch (const Invalid& invalid) {
    return Error{invalid.code, invalid.message};
  } catch (const msgpack::ext_size_overflow&) {
    return Error{Errc::malformed_request, "msgpack ext values are not accepted"};
  } catch (const msgpack::array_size_overflow&) {
    // Each element takes at least a byte, and the limit is the largest frame: an array that
    // claims more cannot be in this frame. A truncated value, not a long batch.
    return Error{Errc::malformed_request, "an array claims more elements than the frame holds"};
  } catch (const msgpack::map_size_overflow&) {
    return Error{Errc::malformed_request, "a map has more fields than this server accepts"};
  } catch (const msgpack::depth_size_overflow&) {
    return Error{Errc::malformed_request, "the request is nested too deeply"};
  } catch (const msgpack::size_overflow&) {
    return Error{Errc::too_large, "a field is larger than this server accepts"};
  } catch (const msgpack::insufficient_bytes&) {
    return Error{Errc::malformed_request, "the frame ends inside a msgpack value"};
  } catch (const std::exception&) {
    return Error{Errc::malformed_request, "the frame is not valid msgpack"};
  }
}

}  // namespace drl::wire
