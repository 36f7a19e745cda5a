#include "wire/request_encoder.hpp"

#include <msgpack.hpp>

#include "core/bounds.hpp"
#include "wire/client_request.hpp"
#include "wire/frame_reader.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {
namespace {

using Packer = StringPacker;

std::uint32_t item_field_count(const CheckRequest& item) {
  return 3 + (item.tier.empty() ? 0 : 1) + (item.endpoint.empty() ? 0 : 1);
}

void pack_item_fields(Packer& pk, const CheckRequest& item) {
  pack_str(pk, "policy");
  pack_str(pk, item.policy);
  pack_str(pk, "key");
  pack_str(pk, item.key);
  pack_str(pk, "cost");
  pk.pack_uint32(item.cost);
  if (!item.tier.empty()) {
    pack_str(pk, "tier");
    pack_str(pk, item.tier);
  }
  if (!item.endpoint.empty()) {
    pack_str(pk, "endpoint");
    pack_str(pk, item.endpoint);
  }
}

void pack_header(Packer& pk, std::uint64_t id, std::string_view op) {
  pack_str(pk, "v");
  pk.pack_uint32(client_protocol_version);
  pack_str(pk, "id");
  pk.pack_uint64(id);
  pack_str(pk, "op");
  pack_str(pk, op);
}

// A check body: the item's fields inline when alone, else an items array.
void pack_check_body(Packer& pk, std::span<const CheckRequest> items, bool detail,
                     std::uint32_t header_fields) {
  const std::uint32_t detail_fields = detail ? 1 : 0;
  if (items.size() == 1) {
    pk.pack_map(header_fields + item_field_count(items[0]) + detail_fields);
  } else {
    pk.pack_map(header_fields + 1 + detail_fields);
  }
}

void pack_check_rest(Packer& pk, std::span<const CheckRequest> items, bool detail) {
  if (items.size() == 1) {
    pack_item_fields(pk, items[0]);
  } else {
    pack_str(pk, "items");
    pk.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const CheckRequest& item : items) {
      pk.pack_map(item_field_count(item));
      pack_item_fields(pk, item);
    }
  }
  if (detail) {
    pack_str(pk, "detail");
    pk.pack(true);
  }
}

template <class Body>
void frame(std::string& out, Body&& body) {
  const std::size_t at = out.size();
  out.append(bounds::frame_header_bytes, '\0');
  StringSink sink{out};
  Packer pk(sink);
  body(pk);
  patch_frame_header(out, at,
                     static_cast<std::uint32_t>(out.size() - at - bounds::frame_header_bytes));
}

std::uint32_t scope_field_count(const OverrideScopeSpec& scope) {
  return 1 + (scope.tier.empty() ? 0 : 1) + (scope.endpoint.empty() ? 0 : 1) +
         (scope.window_ms == 0 ? 0 : 1) + (scope.key.empty() ? 0 : 1);
}

void pack_scope_fields(Packer& pk, const OverrideScopeSpec& scope) {
  pack_str(pk, "policy");
  pack_str(pk, scope.policy);
  if (!scope.tier.empty()) {
    pack_str(pk, "tier");
    pack_str(pk, scope.tier);
  }
  if (!scope.endpoint.empty()) {
    pack_str(pk, "endpoint");
    pack_str(pk, scope.endpoint);
  }
  if (scope.window_ms != 0) {
    pack_str(pk, "window_ms");
    pk.pack_uint64(scope.window_ms);
  }
  if (!scope.key.empty()) {
    pack_str(pk, "key");
    pack_str(pk, scope.key);
  }
}

}  // namespace

void encode_check_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> items,
                          bool detail) {
  frame(out, [&](Packer& pk) {
    pack_check_body(pk, items, detail, 3);
    pack_header(pk, id, "check");
    pack_check_rest(pk, items, detail);
  });
}

void encode_batch_request(std::string& out, std::uint64_t id, std::span<const CheckRequest> checks,
                          bool detail) {
  frame(out, [&](Packer& pk) {
    pk.pack_map(4);
    pack_header(pk, id, "batch");
    pack_str(pk, "checks");
    pk.pack_array(static_cast<std::uint32_t>(checks.size()));
    for (const CheckRequest& check : checks) {
      const std::span<const CheckRequest> one(&check, 1);
      pack_check_body(pk, one, detail, 0);
      pack_check_rest(pk, one, detail);
    }
  });
}

void encode_inspect_request(std::string& out, std::uint64_t id, const CheckRequest& item) {
  frame(out, [&](Packer& pk) {
    pk.pack_map(3 + item_field_count(item));
    pack_header(pk, id, "inspect");
    pack_item_fields(pk, item);
  });
}

void encode_op_request(std::string& out, std::uint64_t id, std::string_view op) {
  frame(out, [&](Packer& pk) {
    pk.pack_map(3);
    pack_header(pk, id, op);
  });
}

void encode_override_set_request(std::string& out, std::uint64_t id, const OverrideSpec& spec) {
  frame(out, [&](Packer& pk) {
    const std::uint32_t fields = 3 + scope_field_count(spec.scope) + (spec.limit ? 1 : 0) +
                                 (spec.factor_permille ? 1 : 0) + (spec.block ? 1 : 0) + 1 +
                                 (spec.reason.empty() ? 0 : 1);
    pk.pack_map(fields);
    pack_header(pk, id, "override_set");
    pack_scope_fields(pk, spec.scope);
    if (spec.limit) {
      pack_str(pk, "limit");
      pk.pack_uint64(*spec.limit);
    }
    if (spec.factor_permille) {
      pack_str(pk, "factor_permille");
      pk.pack_uint64(*spec.factor_permille);
    }
    if (spec.block) {
      pack_str(pk, "block");
      pk.pack(true);
    }
    pack_str(pk, "ttl_ms");
    pk.pack_uint64(spec.ttl_ms);
    if (!spec.reason.empty()) {
      pack_str(pk, "reason");
      pack_str(pk, spec.reason);
    }
  });
}

void encode_key_reset_request(std::string& out, std::uint64_t id, const OverrideScopeSpec& scope,
                              std::string_view reason) {
  frame(out, [&](Packer& pk) {
    pk.pack_map(3 + scope_field_count(scope) + (reason.empty() ? 0 : 1));
    pack_header(pk, id, "key_reset");
    pack_scope_fields(pk, scope);
    if (!reason.empty()) {
      pack_str(pk, "reason");
      pack_str(pk, reason);
    }
  });
}

void encode_override_clear_request(std::string& out, std::uint64_t id,
                                   const OverrideScopeSpec& scope, bool all) {
  frame(out, [&](Packer& pk) {
    if (all) {
      pk.pack_map(4);
      pack_header(pk, id, "override_clear");
      pack_str(pk, "all");
      pk.pack(true);
      return;
    }
    pk.pack_map(3 + scope_field_count(scope));
    pack_header(pk, id, "override_clear");
    pack_scope_fields(pk, scope);
  });
}

void encode_report_request(std::string& out, std::uint64_t id, std::string_view signal,
                           double value) {
  frame(out, [&](Packer& pk) {
    pk.pack_map(5);
    pack_header(pk, id, "report");
    pack_str(pk, "signal");
    pack_str(pk, signal);
    pack_str(pk, "value");
    pk.pack_double(value);
  });
}

}  // namespace drl::wire
