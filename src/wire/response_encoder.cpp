#include "wire/response_encoder.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>

#include "core/assert.hpp"
#include "core/bounds.hpp"
#include "wire/client_request.hpp"
#include "wire/frame_reader.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {
namespace {

using Packer = StringPacker;

void pack_envelope(Packer& pk, std::uint64_t id) {
  pack_str(pk, "v");
  pk.pack_uint32(client_protocol_version);
  pack_str(pk, "id");
  pk.pack_uint64(id);
}

// Whether an answer says why the limit differs from the configured one.
bool is_adjusted(const core::LimitOutcome& limit, const core::PolicySet* policies) {
  return policies != nullptr && limit.adjustment != 0;
}

void pack_adjustment(Packer& pk, const core::LimitOutcome& limit, const core::PolicySet& policies) {
  pack_str(pk, "configured_limit");
  pk.pack_uint64(limit.rule->configured_limit);
  pack_str(pk, "adjusted");
  pack_str(pk, core::adjustment_text(limit, policies));
}

// Hard limits say so (the field is left out for approximate ones, as before hard limits existed).
bool is_hard(const core::LimitOutcome& limit) {
  return limit.policy->enforcement == core::Enforcement::hard;
}

// The same key and value on every answer of a hard limit, encoded at compile time (two fixstrs)
// and appended in one go: it is on the path of every check of a hard limit, whose cost is
// measured against approximate ones (docs/benchmarks.md, "Hard limits").
constexpr std::string_view kEnforcementKey = "enforcement";
constexpr std::string_view kHardName = core::enforcement_name(core::Enforcement::hard);
static_assert(kEnforcementKey.size() <= fixstr_max && kHardName.size() <= fixstr_max);
constexpr auto kHardEnforcement = [] {
  std::array<char, kEnforcementKey.size() + kHardName.size() + 2> out{};
  std::size_t at = 0;
  for (const std::string_view text : {kEnforcementKey, kHardName}) {
    out[at++] = fixstr_header(text.size());
    for (const char c : text) out[at++] = c;
  }
  return out;
}();

void pack_enforcement(Packer& pk) {
  pack_encoded(pk, std::string_view(kHardEnforcement.data(), kHardEnforcement.size()));
}

void pack_limit(Packer& pk, const core::LimitOutcome& limit, const core::PolicySet* policies) {
  const bool adjusted = is_adjusted(limit, policies);
  pk.pack_map((adjusted ? 12 : 10) + (is_hard(limit) ? 1 : 0));
  pack_str(pk, "policy");
  pack_str(pk, limit.policy->name);
  pack_str(pk, "scope");
  pack_str(pk, limit.scope);
  pack_str(pk, "algorithm");
  pack_str(pk, core::algorithm_name(limit.rule->algorithm));
  pack_str(pk, "limit");
  pk.pack_uint64(limit.limit);
  pack_str(pk, "window_ms");
  pk.pack_uint64(limit.rule->window_ms);
  pack_str(pk, "remaining");
  pk.pack_uint64(limit.verdict.remaining);
  pack_str(pk, "reset_after_ms");
  pk.pack_uint64(limit.verdict.reset_after_ms);
  pack_str(pk, "retry_after_ms");
  pk.pack_uint64(limit.verdict.retry_after_ms);
  pack_str(pk, "allowed");
  pk.pack(limit.admits);
  pack_str(pk, "shadow");
  pk.pack(limit.policy->shadow);
  if (is_hard(limit)) pack_enforcement(pk);
  if (adjusted) pack_adjustment(pk, limit, *policies);
}

// The decision fields; `extra` more map entries are written by the caller first.
void pack_decision(Packer& pk, const core::CheckOutcome& outcome, bool detail, std::uint32_t extra,
                   std::uint64_t id, bool envelope, const core::PolicySet* policies) {
  const bool has_limit = outcome.limit_count > 0;
  const core::LimitOutcome* binding = has_limit ? &outcome.binding_limit() : nullptr;
  const bool adjusted = has_limit && is_adjusted(*binding, policies);
  std::uint32_t fields = 10 + extra;
  if (outcome.tier_unknown) ++fields;
  const bool hard = has_limit && is_hard(*binding);
  if (hard) ++fields;
  if (adjusted) fields += 2;
  if (detail) ++fields;
  pk.pack_map(fields);
  if (envelope) pack_envelope(pk, id);
  pack_str(pk, "allowed");
  pk.pack(outcome.allowed);
  pack_str(pk, "limit");
  pk.pack_uint64(has_limit ? binding->limit : 0);
  pack_str(pk, "remaining");
  pk.pack_uint64(has_limit ? binding->verdict.remaining : 0);
  pack_str(pk, "reset_after_ms");
  pk.pack_uint64(has_limit ? binding->verdict.reset_after_ms : 0);
  pack_str(pk, "retry_after_ms");
  pk.pack_uint64(has_limit && !outcome.allowed ? binding->verdict.retry_after_ms : 0);
  pack_str(pk, "window_ms");
  pk.pack_uint64(has_limit ? binding->rule->window_ms : 0);
  pack_str(pk, "policy");
  pack_str(pk, has_limit ? std::string_view(binding->policy->name) : std::string_view());
  pack_str(pk, "scope");
  pack_str(pk, has_limit ? binding->scope : std::string_view());
  pack_str(pk, "shadow_denied");
  pk.pack(outcome.shadow_denied);
  pack_str(pk, "staleness_ms");
  pk.pack_uint64(static_cast<std::uint64_t>(std::max<std::int64_t>(0, outcome.staleness_ms)));
  if (outcome.tier_unknown) {
    pack_str(pk, "tier_unknown");
    pk.pack(true);
  }
  if (hard) pack_enforcement(pk);
  if (adjusted) pack_adjustment(pk, *binding, *policies);
  if (detail) {
    pack_str(pk, "limits");
    pk.pack_array(static_cast<std::uint32_t>(outcome.limit_count));
    for (std::size_t i = 0; i < outcome.limit_count; ++i) {
      pack_limit(pk, outcome.limits[i], policies);
    }
  }
}

// `forgotten`: what a key reset just made forgot, per counter (the answer of key_reset only).
void pack_override(Packer& pk, const core::OverrideRecord& record, core::WallTime now,
                   std::span<const core::ResetTarget> forgotten = {}) {
  const bool keyed = !record.scope.key.empty();
  const bool reset = record.kind == core::OverrideKind::reset;
  pk.pack_map(13 + (keyed ? 1 : 0) + (reset ? 1 : 0));
  if (keyed) {
    pack_str(pk, "key");
    pack_str(pk, record.scope.key);
  }
  if (reset) {
    pack_str(pk, "forgotten");
    pk.pack_array(static_cast<std::uint32_t>(forgotten.size()));
    for (const core::ResetTarget& target : forgotten) {
      pk.pack_map(4);
      pack_str(pk, "endpoint");
      pack_str(pk, target.endpoint);
      pack_str(pk, "window_ms");
      pk.pack_uint64(target.mark.window_ms);
      pack_str(pk, "limit");
      pk.pack_uint64(target.limit);
      pack_str(pk, "count");
      pk.pack_uint64(target.counted);
    }
  }
  pack_str(pk, "policy");
  pack_str(pk, record.scope.policy);
  pack_str(pk, "tier");
  pack_str(pk, record.scope.tier);
  pack_str(pk, "endpoint");
  pack_str(pk, record.scope.endpoint);
  pack_str(pk, "window_ms");
  pk.pack_uint64(record.scope.window_ms);
  pack_str(pk, "kind");
  pack_str(pk, core::override_kind_name(record.kind));
  pack_str(pk, "value");
  pk.pack_uint64(record.value);
  pack_str(pk, "expires_wall_ms");
  pk.pack_int64(record.expires_wall_ms);
  pack_str(pk, "remaining_ms");
  pk.pack_uint64(
      static_cast<std::uint64_t>(std::max<std::int64_t>(0, record.expires_wall_ms - now.unix_ms)));
  pack_str(pk, "reason");
  pack_str(pk, record.reason);
  pack_str(pk, "set_by");
  pack_str(pk, record.stamp.node_id);
  pack_str(pk, "set_wall_ms");
  pk.pack_int64(record.set_wall_ms);
  pack_str(pk, "stamp_wall_ms");
  pk.pack_int64(record.stamp.wall_ms);
  pack_str(pk, "stamp_logical");
  pk.pack_uint32(record.stamp.logical);
}

void pack_error_fields(Packer& pk, Errc code, std::string_view message) {
  pack_str(pk, "error");
  pack_str(pk, errc_name(code));
  pack_str(pk, "message");
  pack_str(pk, message);
}

}  // namespace

std::size_t ResponseEncoder::begin_frame() {
  const std::size_t at = out_.size();
  out_.append(bounds::frame_header_bytes, '\0');
  return at;
}

void ResponseEncoder::end_frame(std::size_t header_at) {
  patch_frame_header(
      out_, header_at,
      static_cast<std::uint32_t>(out_.size() - header_at - bounds::frame_header_bytes));
}

void ResponseEncoder::decision(std::uint64_t id, const core::CheckOutcome& outcome, bool detail,
                               const core::PolicySet* policies) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  // v and id are two more entries.
  pack_decision(pk, outcome, detail, 2, id, true, policies);
  end_frame(at);
}

void ResponseEncoder::error(std::uint64_t id, Errc code, std::string_view message) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(4);
  pack_envelope(pk, id);
  pack_error_fields(pk, code, message);
  end_frame(at);
}

void ResponseEncoder::begin_batch(std::uint64_t id, std::size_t count) {
  batch_header_at_ = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "results");
  pk.pack_array(static_cast<std::uint32_t>(count));
}

void ResponseEncoder::batch_decision(const core::CheckOutcome& outcome, bool detail,
                                     const core::PolicySet* policies) {
  StringSink sink{out_};
  Packer pk(sink);
  pack_decision(pk, outcome, detail, 0, 0, false, policies);
}

void ResponseEncoder::batch_error(Errc code, std::string_view message) {
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(2);
  pack_error_fields(pk, code, message);
}

void ResponseEncoder::end_batch() {
  end_frame(batch_header_at_);
}

void ResponseEncoder::pong(std::uint64_t id, std::string_view server_version) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(4);
  pack_envelope(pk, id);
  pack_str(pk, "pong");
  pk.pack(true);
  pack_str(pk, "server");
  pack_str(pk, server_version);
  end_frame(at);
}

void ResponseEncoder::reloaded(std::uint64_t id, std::uint64_t generation,
                               std::string_view message) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(5);
  pack_envelope(pk, id);
  pack_str(pk, "reloaded");
  pk.pack(true);
  pack_str(pk, "generation");
  pk.pack_uint64(generation);
  pack_str(pk, "message");
  pack_str(pk, message);
  end_frame(at);
}

void ResponseEncoder::status(std::uint64_t id, std::span<const StatusField> fields) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "status");
  pk.pack_map(static_cast<std::uint32_t>(fields.size()));
  const auto pack_scalar = [&pk](const auto& value) {
    using T = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<T, std::string>) {
      pack_str(pk, value);
    } else {
      pk.pack(value);
    }
  };
  for (const StatusField& field : fields) {
    pack_str(pk, field.name);
    std::visit(
        [&](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::vector<StatusRecord>>) {
            pk.pack_array(static_cast<std::uint32_t>(value.size()));
            for (const StatusRecord& record : value) {
              pk.pack_map(static_cast<std::uint32_t>(record.size()));
              for (const auto& [name, scalar] : record) {
                pack_str(pk, name);
                std::visit(pack_scalar, scalar);
              }
            }
          } else {
            pack_scalar(value);
          }
        },
        field.value);
  }
  end_frame(at);
}

void ResponseEncoder::inspected(std::uint64_t id, std::span<const core::InspectedCounter> counters,
                                const core::OriginTable& origins) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "counters");
  pk.pack_array(static_cast<std::uint32_t>(counters.size()));
  for (const core::InspectedCounter& counter : counters) {
    pk.pack_map(14);
    pack_str(pk, "policy");
    pack_str(pk, counter.limit.policy->name);
    pack_str(pk, "scope");
    pack_str(pk, counter.limit.scope);
    pack_str(pk, "algorithm");
    pack_str(pk, core::algorithm_name(counter.limit.rule->algorithm));
    pack_str(pk, "limit");
    pk.pack_uint64(counter.limit.limit);
    pack_str(pk, "window_ms");
    pk.pack_uint64(counter.limit.rule->window_ms);
    pack_str(pk, "window_id");
    pk.pack_uint64(counter.window_id);
    pack_str(pk, "previous");
    pk.pack_uint64(counter.view.counts.previous);
    pack_str(pk, "current");
    pk.pack_uint64(counter.view.counts.current);
    pack_str(pk, "forgotten_previous");
    pk.pack_uint64(counter.forgotten.previous);
    pack_str(pk, "forgotten_current");
    pk.pack_uint64(counter.forgotten.current);
    pack_str(pk, "remaining");
    pk.pack_uint64(counter.limit.verdict.remaining);
    pack_str(pk, "reset_after_ms");
    pk.pack_uint64(counter.limit.verdict.reset_after_ms);
    pack_str(pk, "counter_id");
    pk.pack_uint64(counter.limit.counter_id);
    pack_str(pk, "origins");
    pk.pack_array(static_cast<std::uint32_t>(counter.origins.size()));
    for (const core::OriginCounts& slot : counter.origins) {
      const std::optional<core::Origin> origin = origins.origin_at(slot.origin);
      pk.pack_map(5);
      pack_str(pk, "node_id");
      // The owners' total of the other origins (owner dissemination) is no origin's.
      const std::string_view unnamed =
          slot.origin == core::owners_total_origin ? std::string_view("(owners)") : "?";
      pack_str(pk, origin ? std::string_view(origin->node_id) : unnamed);
      pack_str(pk, "incarnation");
      pk.pack_uint64(origin ? origin->incarnation : 0);
      pack_str(pk, "window_id");
      pk.pack_uint64(slot.window_id);
      pack_str(pk, "previous");
      pk.pack_uint64(slot.previous);
      pack_str(pk, "current");
      pk.pack_uint64(slot.current);
    }
  }
  end_frame(at);
}

void ResponseEncoder::override_stored(std::uint64_t id, const core::OverrideRecord& record,
                                      core::WallTime now) {
  stored_record(id, "override", record, now, {});
}

void ResponseEncoder::stored_record(std::uint64_t id, std::string_view field,
                                    const core::OverrideRecord& record, core::WallTime now,
                                    std::span<const core::ResetTarget> forgotten) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, field);
  pack_override(pk, record, now, forgotten);
  end_frame(at);
}

void ResponseEncoder::key_reset_stored(std::uint64_t id, const core::KeyReset& reset,
                                       core::WallTime now) {
  DRL_ASSERT(!reset.records.empty(), "a key reset that succeeded wrote its record");
  stored_record(id, "reset", reset.records.front(), now, reset.targets);
}

void ResponseEncoder::override_list(std::uint64_t id, std::span<const core::OverrideRecord> records,
                                    core::WallTime now) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "overrides");
  pk.pack_array(static_cast<std::uint32_t>(records.size()));
  for (const core::OverrideRecord& record : records) pack_override(pk, record, now);
  end_frame(at);
}

void ResponseEncoder::overrides_cleared(std::uint64_t id, std::uint64_t count) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "cleared");
  pk.pack_uint64(count);
  end_frame(at);
}

void ResponseEncoder::reported(std::uint64_t id) {
  const std::size_t at = begin_frame();
  StringSink sink{out_};
  Packer pk(sink);
  pk.pack_map(3);
  pack_envelope(pk, id);
  pack_str(pk, "reported");
  pk.pack(true);
  end_frame(at);
}

}  // namespace drl::wire
