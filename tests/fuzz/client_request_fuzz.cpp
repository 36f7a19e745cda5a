// Fuzzes the client protocol as drld's workers see it: a byte stream split into frames
// (FrameReader), each frame decoded (RequestDecoder::decode), the decoded checks decided by a
// real CheckEngine on a small policy set (so that decoded garbage reaches the core too), and the
// answer encoded; override ops go through core::validate_override into a per-input override
// table whose policy set in force the later checks of the input use. Invariants: nothing
// crashes, leaks or throws; every answer the server writes is one the client library can read
// back (decode_response), with the request's id.
//
// Input: the bytes of a client connection (frames with their 4-byte length headers, as in
// tests/golden/client_v1/*.hex). A trailing partial frame is decoded as it is, so that inputs
// whose length header was mutated still reach the decoder.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "core/check_engine.hpp"
#include "core/counter_store.hpp"
#include "core/limit_adjuster.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "fuzz_assert.hpp"
#include "wire/frame_reader.hpp"
#include "wire/request_decoder.hpp"
#include "wire/response_decoder.hpp"
#include "wire/response_encoder.hpp"

namespace {

using namespace drl;

// Every kind of limit resolution: sliding and fixed, several limits, tiers, endpoints with
// tiers, a shadow policy, and windows from 250ms to a day.
constexpr const char* kPolicies = R"(
[[policy]]
name = "api"
limits = [{ limit = 5, window = "1s" }, { limit = 200, window = "1h" }]

[policy.tiers.free]
limits = [{ limit = 10, window = "1s" }, { limit = 1000, window = "1h" }]

[policy.tiers.pro]
limits = [{ limit = 50, window = "1s" }, { limit = 20000, window = "1h" }]

[policy.endpoints."POST /v1/login"]
limit = 5
window = "1m"
algorithm = "fixed"

[policy.endpoints."POST /v1/export"]
limit = 2
window = "1h"

[policy.endpoints."POST /v1/export".tiers.pro]
limit = 20
window = "1h"

[policy.endpoints."GET /v1/*"]
limit = 100
window = "10s"

[[policy]]
name = "demo"
limit = 3
window = "250ms"
algorithm = "fixed"

[[policy]]
name = "user"
limit = 4294967295
window = "1d"

[[policy]]
name = "tenant"
limit = 2
window = "10s"
shadow = true
)";

constexpr std::size_t kMaxFrameBytes = 64 * 1024;
constexpr std::size_t kMaxBatchChecks = 64;

struct Fixture {
  std::shared_ptr<const core::PolicySet> policies;
  core::OriginTable origins{core::Origin{"fuzz", 1}, 16};
  wire::RequestDecoder decoder{kMaxBatchChecks, kMaxFrameBytes};

  Fixture() {
    Result<config::Config> config = config::parse_config(kPolicies, "fuzz-policies");
    if (!config.ok()) std::fprintf(stderr, "%s\n", config.error().message.c_str());
    FUZZ_ASSERT(config.ok());
    policies = config->policies;
  }
};

// The answer frames in `out` (each with its header) decode, and carry `id`.
void check_answers(const std::string& out, std::uint64_t id) {
  std::size_t at = 0;
  FUZZ_ASSERT(!out.empty());
  while (at < out.size()) {
    FUZZ_ASSERT(out.size() - at >= 4);
    const auto* header = reinterpret_cast<const unsigned char*>(out.data() + at);
    const std::size_t body = (std::size_t{header[0]} << 24) | (std::size_t{header[1]} << 16) |
                             (std::size_t{header[2]} << 8) | header[3];
    FUZZ_ASSERT(out.size() - at - 4 >= body);
    const Result<wire::Response> response =
        wire::decode_response(std::string_view(out).substr(at + 4, body));
    if (!response.ok()) {
      std::fprintf(stderr, "answer not readable: %s\n", response.error().message.c_str());
    }
    FUZZ_ASSERT(response.ok());
    FUZZ_ASSERT(response->id == id);
    at += 4 + body;
  }
}

// Per input: the overrides its requests set, and the policy set in force that they derive
// (what drld's DynamicLimits does), so that decoded overrides reach the check path too.
struct Dynamic {
  core::OverrideTable table{"fuzz", core::OverrideLimits{8}};
  std::shared_ptr<const core::PolicySet> in_force;
  void republish(const Fixture& fixture, core::WallTime now) {
    in_force = core::adjust_policies(*fixture.policies, table.active(now), {});
  }
};

void serve(Fixture& fixture, Dynamic& dynamic, core::CheckEngine& engine, core::WallTime now,
           std::string_view frame) {
  const core::PolicySet& policies = *dynamic.in_force;
  wire::Request request;
  std::string out;
  wire::ResponseEncoder encoder(out);
  const Result<Done> decoded = fixture.decoder.decode(frame, request);
  if (!decoded.ok()) {
    FUZZ_ASSERT(!decoded.error().message.empty());
    encoder.error(request.id, decoded.error().code, decoded.error().message);
    check_answers(out, request.id);
    return;
  }
  // What the decoder promises the service: spans within items, one span for check and inspect.
  for (const wire::CheckSpan& span : request.checks) {
    FUZZ_ASSERT(span.first + std::size_t{span.count} <= request.items.size());
    FUZZ_ASSERT(span.error == Errc::ok ? span.count > 0 : span.count == 0);
  }
  core::CheckOutcome outcome;
  const auto decide = [&](const wire::CheckSpan& span) {
    if (span.error != Errc::ok) {
      outcome.error = span.error;
      outcome.error_message = span.error_message;
      return;
    }
    engine.check(policies, now,
                 std::span<const core::CheckItem>(request.items.data() + span.first, span.count),
                 outcome);
    if (outcome.error == Errc::ok) {
      FUZZ_ASSERT(outcome.limit_count > 0 && outcome.binding < outcome.limit_count);
    }
  };
  switch (request.op) {
    case wire::Op::check: {
      FUZZ_ASSERT(request.checks.size() == 1);
      decide(request.checks.front());
      if (outcome.error != Errc::ok) {
        encoder.error(request.id, outcome.error, outcome.error_message);
      } else {
        encoder.decision(request.id, outcome, request.checks.front().detail);
      }
      break;
    }
    case wire::Op::batch: {
      FUZZ_ASSERT(request.checks.size() <= kMaxBatchChecks);
      encoder.begin_batch(request.id, request.checks.size());
      for (const wire::CheckSpan& span : request.checks) {
        decide(span);
        if (outcome.error != Errc::ok) {
          encoder.batch_error(outcome.error, outcome.error_message);
        } else {
          encoder.batch_decision(outcome, span.detail);
        }
      }
      encoder.end_batch();
      break;
    }
    case wire::Op::inspect: {
      FUZZ_ASSERT(request.checks.size() == 1);
      const wire::CheckSpan& span = request.checks.front();
      if (span.error != Errc::ok) {
        encoder.error(request.id, span.error, span.error_message);
        break;
      }
      std::vector<core::InspectedCounter> inspected;
      std::string message;
      const Errc code =
          engine.inspect(policies, now, request.items[span.first], inspected, message);
      if (code != Errc::ok) {
        encoder.error(request.id, code, message);
      } else {
        encoder.inspected(request.id, inspected, fixture.origins);
      }
      break;
    }
    case wire::Op::ping:
      encoder.pong(request.id, "drld fuzz");
      break;
    case wire::Op::override_set: {
      const wire::OverrideRequest& o = request.override_request;
      FUZZ_ASSERT(o.kind == core::OverrideKind::limit || o.kind == core::OverrideKind::factor ||
                  (o.kind == core::OverrideKind::block && !o.scope.key.empty()));
      std::string error = core::validate_override(*fixture.policies, o.scope, o.kind);
      core::OverrideRecord stored;
      if (error.empty()) {
        stored = dynamic.table.set(o.scope, o.kind, o.value, o.ttl_ms, o.reason, now, error);
      }
      if (!error.empty()) {
        encoder.error(request.id, Errc::invalid_argument, error);
        break;
      }
      FUZZ_ASSERT(stored.active(now));
      dynamic.republish(fixture, now);
      encoder.override_stored(request.id, stored, now);
      break;
    }
    case wire::Op::override_list: {
      const std::vector<core::OverrideRecord> active = dynamic.table.active(now);
      encoder.override_list(request.id, active, now);
      break;
    }
    case wire::Op::override_clear: {
      const wire::OverrideRequest& o = request.override_request;
      const std::size_t cleared =
          o.all ? dynamic.table.clear_all(now) : (dynamic.table.clear(o.scope, now) ? 1 : 0);
      dynamic.republish(fixture, now);
      encoder.overrides_cleared(request.id, cleared);
      break;
    }
    case wire::Op::key_reset: {
      const wire::OverrideRequest& o = request.override_request;
      FUZZ_ASSERT(o.kind == core::OverrideKind::reset && o.scope.counts_reset &&
                  !o.scope.key.empty());
      core::CheckItem item;
      item.policy = o.scope.policy;
      item.key = o.scope.key;
      item.tier = o.scope.tier;
      item.endpoint = o.scope.endpoint;
      std::vector<core::ResetTarget> targets;
      std::string error;
      const Errc code = engine.reset_targets(policies, now, item, targets, error);
      if (code != Errc::ok) {
        encoder.error(request.id, code, error);
        break;
      }
      std::vector<core::ResetMark> marks;
      for (const core::ResetTarget& target : targets) marks.push_back(target.mark);
      marks.resize(std::min(marks.size(), drl::bounds::limits_per_item_max));
      const core::OverrideRecord stored =
          dynamic.table.set(o.scope, o.kind, 0, core::reset_lasts_ms(marks, now), o.reason, now,
                            error, std::move(marks));
      if (!error.empty()) {
        encoder.error(request.id, Errc::invalid_argument, error);
        break;
      }
      FUZZ_ASSERT(stored.active(now));
      dynamic.republish(fixture, now);
      encoder.key_reset_stored(request.id, core::KeyReset{{stored}, std::move(targets)}, now);
      break;
    }
    case wire::Op::report:
      FUZZ_ASSERT(!request.report.name.empty() &&
                  request.report.name.size() <= wire::signal_name_bytes_max);
      encoder.reported(request.id);
      break;
    case wire::Op::reload:
    case wire::Op::status:
      // Daemon state, not input: answered by drld's service, covered by integration tests.
      return;
  }
  check_answers(out, request.id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  // A fresh store per input, small enough that a batch fills it and evicts: each input
  // replays the same way.
  core::CounterStore store(core::StoreOptions{64, 4, false});
  core::CheckEngine engine(store, core::OriginTable::local_index);
  core::WallTime now{1'800'000'000'000};
  Dynamic dynamic;
  dynamic.republish(fixture, now);

  // The stream arrives in 61-byte reads, as a socket might deliver it: frames span reads, and
  // the reader compacts and grows its buffer.
  wire::FrameReader reader(kMaxFrameBytes);
  constexpr std::size_t kReadBytes = 61;
  std::size_t fed = 0;
  std::size_t consumed = 0;
  bool too_large = false;
  while (fed < size && !too_large) {
    const std::size_t chunk = std::min(kReadBytes, size - fed);
    const std::span<char> room = reader.prepare(chunk);
    FUZZ_ASSERT(room.size() >= chunk);
    std::memcpy(room.data(), data + fed, chunk);
    reader.commit(chunk);
    fed += chunk;
    std::string_view frame;
    for (;;) {
      const wire::FrameReader::Status status = reader.next(frame);
      if (status == wire::FrameReader::Status::too_large) too_large = true;
      if (status != wire::FrameReader::Status::frame) break;
      FUZZ_ASSERT(frame.size() <= kMaxFrameBytes);
      FUZZ_ASSERT(std::memcmp(frame.data(), data + consumed + 4, frame.size()) == 0);
      consumed += 4 + frame.size();
      serve(fixture, dynamic, engine, now, frame);
      now.unix_ms += 97;  // windows roll over within one input
    }
  }
  FUZZ_ASSERT(too_large || reader.buffered_bytes() == size - consumed);
  // What is left (a partial or oversized frame) is decoded as if it were whole, so that inputs
  // whose length header was mutated still reach the decoder.
  if (size - consumed > 4) {
    const std::string rest(reinterpret_cast<const char*>(data) + consumed + 4, size - consumed - 4);
    serve(fixture, dynamic, engine, now, rest);
  }
  return 0;
}
