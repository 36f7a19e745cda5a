#include "wire/response_decoder.hpp"

#include <msgpack.hpp>

#include <limits>

#include "wire/json_writer.hpp"

namespace drl::wire {
namespace {

struct Bad {
  std::string message;
};

std::string_view text_of(const msgpack::object& value) {
  if (value.type == msgpack::type::STR) return {value.via.str.ptr, value.via.str.size};
  throw Bad{"expected a string"};
}

std::uint64_t uint_of(const msgpack::object& value) {
  if (value.type == msgpack::type::POSITIVE_INTEGER) return value.via.u64;
  throw Bad{"expected an unsigned integer"};
}

bool bool_of(const msgpack::object& value) {
  if (value.type == msgpack::type::BOOLEAN) return value.via.boolean;
  throw Bad{"expected a boolean"};
}

// Any msgpack integer that fits int64 (the server writes ints in their shortest form).
std::int64_t int_of(const msgpack::object& value) {
  if (value.type == msgpack::type::NEGATIVE_INTEGER) return value.via.i64;
  if (value.type == msgpack::type::POSITIVE_INTEGER &&
      value.via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return static_cast<std::int64_t>(value.via.u64);
  }
  throw Bad{"expected an integer"};
}

template <class Fn>
void for_each_field(const msgpack::object& map, Fn&& fn) {
  if (map.type != msgpack::type::MAP) throw Bad{"expected a map"};
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object_kv& kv = map.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) throw Bad{"map keys must be strings"};
    fn(std::string_view(kv.key.via.str.ptr, kv.key.via.str.size), kv.val);
  }
}

LimitDecision limit_of(const msgpack::object& map) {
  LimitDecision out;
  for_each_field(map, [&](std::string_view key, const msgpack::object& value) {
    if (key == "policy")
      out.policy = text_of(value);
    else if (key == "scope")
      out.scope = text_of(value);
    else if (key == "algorithm")
      out.algorithm = text_of(value);
    else if (key == "limit")
      out.limit = uint_of(value);
    else if (key == "window_ms")
      out.window_ms = uint_of(value);
    else if (key == "remaining")
      out.remaining = uint_of(value);
    else if (key == "reset_after_ms")
      out.reset_after_ms = uint_of(value);
    else if (key == "retry_after_ms")
      out.retry_after_ms = uint_of(value);
    else if (key == "allowed")
      out.allowed = bool_of(value);
    else if (key == "shadow")
      out.shadow = bool_of(value);
    else if (key == "enforcement")
      out.enforcement = text_of(value);
    else if (key == "configured_limit")
      out.configured_limit = uint_of(value);
    else if (key == "adjusted")
      out.adjusted = text_of(value);
  });
  return out;
}

OverrideInfo override_of(const msgpack::object& map) {
  OverrideInfo out;
  for_each_field(map, [&](std::string_view key, const msgpack::object& value) {
    if (key == "policy") {
      out.scope.policy = text_of(value);
    } else if (key == "tier") {
      out.scope.tier = text_of(value);
    } else if (key == "endpoint") {
      out.scope.endpoint = text_of(value);
    } else if (key == "window_ms") {
      out.scope.window_ms = uint_of(value);
    } else if (key == "key") {
      out.scope.key = text_of(value);
    } else if (key == "forgotten") {
      if (value.type != msgpack::type::ARRAY) throw Bad{"forgotten must be an array"};
      for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
        ForgottenCount& count = out.forgotten.emplace_back();
        for_each_field(value.via.array.ptr[i],
                       [&](std::string_view field, const msgpack::object& item) {
                         if (field == "endpoint") {
                           count.endpoint = text_of(item);
                         } else if (field == "window_ms") {
                           count.window_ms = uint_of(item);
                         } else if (field == "limit") {
                           count.limit = uint_of(item);
                         } else if (field == "count") {
                           count.count = uint_of(item);
                         }
                       });
      }
    } else if (key == "kind") {
      out.kind = text_of(value);
    } else if (key == "value") {
      out.value = uint_of(value);
    } else if (key == "expires_wall_ms") {
      out.expires_wall_ms = int_of(value);
    } else if (key == "remaining_ms") {
      out.remaining_ms = uint_of(value);
    } else if (key == "reason") {
      out.reason = text_of(value);
    } else if (key == "set_by") {
      out.set_by = text_of(value);
    } else if (key == "set_wall_ms") {
      out.set_wall_ms = int_of(value);
    } else if (key == "stamp_wall_ms") {
      out.stamp_wall_ms = int_of(value);
    } else if (key == "stamp_logical") {
      out.stamp_logical = uint_of(value);
    }
  });
  return out;
}

// A decision, or the error in its place. Unknown fields are skipped (append-only protocol).
Result<Decision> decision_of(const msgpack::object& map) {
  Decision out;
  std::optional<Error> error;
  bool has_allowed = false;
  for_each_field(map, [&](std::string_view key, const msgpack::object& value) {
    if (key == "error") {
      if (!error) error = Error{};
      error->code = errc_from_name(text_of(value));
    } else if (key == "message") {
      if (!error) error = Error{};
      error->message = text_of(value);
    } else if (key == "allowed") {
      out.allowed = bool_of(value);
      has_allowed = true;
    } else if (key == "shadow_denied") {
      out.shadow_denied = bool_of(value);
    } else if (key == "limit") {
      out.limit = uint_of(value);
    } else if (key == "window_ms") {
      out.window_ms = uint_of(value);
    } else if (key == "remaining") {
      out.remaining = uint_of(value);
    } else if (key == "reset_after_ms") {
      out.reset_after_ms = uint_of(value);
    } else if (key == "retry_after_ms") {
      out.retry_after_ms = uint_of(value);
    } else if (key == "staleness_ms") {
      out.staleness_ms = uint_of(value);
    } else if (key == "policy") {
      out.policy = text_of(value);
    } else if (key == "scope") {
      out.scope = text_of(value);
    } else if (key == "tier_unknown") {
      out.tier_unknown = bool_of(value);
    } else if (key == "enforcement") {
      out.enforcement = text_of(value);
    } else if (key == "configured_limit") {
      out.configured_limit = uint_of(value);
    } else if (key == "adjusted") {
      out.adjusted = text_of(value);
    } else if (key == "limits") {
      if (value.type != msgpack::type::ARRAY) throw Bad{"limits must be an array"};
      for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
        out.limits.push_back(limit_of(value.via.array.ptr[i]));
      }
    }
  });
  if (error) return *error;
  if (!has_allowed) throw Bad{"a decision without 'allowed'"};
  return out;
}

void json_of(const msgpack::object& value, JsonWriter& json) {
  switch (value.type) {
    case msgpack::type::NIL:
      json.null();
      break;
    case msgpack::type::BOOLEAN:
      json.value(value.via.boolean);
      break;
    case msgpack::type::POSITIVE_INTEGER:
      json.value(static_cast<std::uint64_t>(value.via.u64));
      break;
    case msgpack::type::NEGATIVE_INTEGER:
      json.value(static_cast<std::int64_t>(value.via.i64));
      break;
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      json.value(value.via.f64);
      break;
    case msgpack::type::STR:
      json.value(std::string_view(value.via.str.ptr, value.via.str.size));
      break;
    case msgpack::type::ARRAY:
      json.begin_array();
      for (std::uint32_t i = 0; i < value.via.array.size; ++i)
        json_of(value.via.array.ptr[i], json);
      json.end_array();
      break;
    case msgpack::type::MAP:
      json.begin_object();
      for (std::uint32_t i = 0; i < value.via.map.size; ++i) {
        const msgpack::object& key = value.via.map.ptr[i].key;
        if (key.type != msgpack::type::STR) throw Bad{"status keys must be strings"};
        json.key(std::string_view(key.via.str.ptr, key.via.str.size));
        json_of(value.via.map.ptr[i].val, json);
      }
      json.end_object();
      break;
    default:
      json.null();
      break;
  }
}

std::string text_or_json(const msgpack::object& value) {
  if (value.type == msgpack::type::STR) return std::string(value.via.str.ptr, value.via.str.size);
  JsonWriter json;
  json_of(value, json);
  return json.str();
}

OriginSlots origin_slots_of(const msgpack::object& map) {
  OriginSlots slot;
  for_each_field(map, [&](std::string_view key, const msgpack::object& value) {
    if (key == "node_id") {
      slot.node_id = text_of(value);
    } else if (key == "incarnation") {
      slot.incarnation = uint_of(value);
    } else if (key == "window_id") {
      slot.window_id = uint_of(value);
    } else if (key == "previous") {
      slot.previous = uint_of(value);
    } else if (key == "current") {
      slot.current = uint_of(value);
    }
  });
  return slot;
}

CounterState counter_of(const msgpack::object& map) {
  CounterState out;
  for_each_field(map, [&](std::string_view key, const msgpack::object& value) {
    if (key == "policy") {
      out.policy = text_of(value);
    } else if (key == "scope") {
      out.scope = text_of(value);
    } else if (key == "algorithm") {
      out.algorithm = text_of(value);
    } else if (key == "limit") {
      out.limit = uint_of(value);
    } else if (key == "window_ms") {
      out.window_ms = uint_of(value);
    } else if (key == "window_id") {
      out.window_id = uint_of(value);
    } else if (key == "previous") {
      out.previous = uint_of(value);
    } else if (key == "current") {
      out.current = uint_of(value);
    } else if (key == "forgotten_previous") {
      out.forgotten_previous = uint_of(value);
    } else if (key == "forgotten_current") {
      out.forgotten_current = uint_of(value);
    } else if (key == "remaining") {
      out.remaining = uint_of(value);
    } else if (key == "reset_after_ms") {
      out.reset_after_ms = uint_of(value);
    } else if (key == "origins") {
      if (value.type != msgpack::type::ARRAY) throw Bad{"origins must be an array"};
      for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
        out.origins.push_back(origin_slots_of(value.via.array.ptr[i]));
      }
    }
  });
  return out;
}

void read_status(const msgpack::object& value, Response& out) {
  JsonWriter json;
  json_of(value, json);
  out.status_json = json.str();
  for_each_field(value, [&](std::string_view name, const msgpack::object& field) {
    if (field.type != msgpack::type::ARRAY) {
      out.status.fields.emplace_back(std::string(name), text_or_json(field));
      return;
    }
    auto& table = out.status.tables[std::string(name)];
    for (std::uint32_t i = 0; i < field.via.array.size; ++i) {
      std::vector<std::pair<std::string, std::string>> record;
      for_each_field(field.via.array.ptr[i],
                     [&](std::string_view column, const msgpack::object& cell) {
                       record.emplace_back(std::string(column), text_or_json(cell));
                     });
      table.push_back(std::move(record));
    }
  });
}

}  // namespace

Result<Response> decode_response(std::string_view frame) {
  try {
    const msgpack::object_handle handle = msgpack::unpack(frame.data(), frame.size());
    const msgpack::object& root = handle.get();
    Response out;
    bool is_decision = false;
    bool has_error = false;
    for_each_field(root, [&](std::string_view key, const msgpack::object& value) {
      if (key == "id") {
        out.id = uint_of(value);
      } else if (key == "allowed") {
        is_decision = true;
      } else if (key == "error") {
        has_error = true;
      } else if (key == "results") {
        if (value.type != msgpack::type::ARRAY) throw Bad{"results must be an array"};
        for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
          out.results.push_back(decision_of(value.via.array.ptr[i]));
        }
      } else if (key == "pong") {
        out.pong = bool_of(value);
      } else if (key == "server") {
        out.server = text_of(value);
      } else if (key == "reloaded") {
        out.reloaded = bool_of(value);
      } else if (key == "generation") {
        out.generation = uint_of(value);
      } else if (key == "message") {
        out.message = text_of(value);
      } else if (key == "status") {
        read_status(value, out);
      } else if (key == "counters") {
        JsonWriter json;
        json_of(value, json);
        out.counters_json = json.str();
        if (value.type != msgpack::type::ARRAY) throw Bad{"counters must be an array"};
        for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
          out.counters.push_back(counter_of(value.via.array.ptr[i]));
        }
      } else if (key == "override" || key == "reset") {
        out.override_record = override_of(value);
      } else if (key == "overrides") {
        JsonWriter json;
        json_of(value, json);
        out.overrides_json = json.str();
        if (value.type != msgpack::type::ARRAY) throw Bad{"overrides must be an array"};
        for (std::uint32_t i = 0; i < value.via.array.size; ++i) {
          out.overrides.push_back(override_of(value.via.array.ptr[i]));
        }
      } else if (key == "cleared") {
        out.cleared = uint_of(value);
      } else if (key == "reported") {
        out.reported = bool_of(value);
      }
    });
    if (has_error || is_decision) {
      Result<Decision> decision = decision_of(root);
      if (decision.ok()) {
        out.decision = std::move(decision.value());
      } else {
        out.error = decision.error();
      }
    }
    return out;
  } catch (const Bad& bad) {
    return Error{Errc::protocol_error, "unexpected response: " + bad.message};
  } catch (const std::exception& error) {
    return Error{Errc::protocol_error, std::string("unreadable response: ") + error.what()};
  }
}

}  // namespace drl::wire
