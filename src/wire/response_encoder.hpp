// Server side of the client protocol: answers to frames appended to an output buffer.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/check_engine.hpp"
#include "core/limits_in_force.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "drl/error.hpp"
#include "wire/status_field.hpp"

namespace drl::wire {

class ResponseEncoder {
 public:
  // Appends whole frames to `out`, which must outlive the encoder.
  explicit ResponseEncoder(std::string& out) : out_(out) {}

  // `policies`: the set the check was decided with, for the note of an adjusted limit
  // (configured_limit, adjusted); null leaves those fields out.
  void decision(std::uint64_t id, const core::CheckOutcome& outcome, bool detail,
                const core::PolicySet* policies = nullptr);
  void error(std::uint64_t id, Errc code, std::string_view message);

  // A batch answer: begin_batch, then exactly `count` batch_decision/batch_error, then end_batch.
  void begin_batch(std::uint64_t id, std::size_t count);
  void batch_decision(const core::CheckOutcome& outcome, bool detail,
                      const core::PolicySet* policies = nullptr);
  void batch_error(Errc code, std::string_view message);
  void end_batch();

  void pong(std::uint64_t id, std::string_view server_version);
  void reloaded(std::uint64_t id, std::uint64_t generation, std::string_view message);
  void status(std::uint64_t id, std::span<const StatusField> fields);
  // `origins` names the store's origin indices.
  void inspected(std::uint64_t id, std::span<const core::InspectedCounter> counters,
                 const core::OriginTable& origins);

  // Overrides: one record (override_set), every active one (override_list), how many were
  // cleared (override_clear). `now` (wall clock) gives each record's remaining_ms.
  void override_stored(std::uint64_t id, const core::OverrideRecord& record, core::WallTime now);
  void override_list(std::uint64_t id, std::span<const core::OverrideRecord> records,
                     core::WallTime now);
  void overrides_cleared(std::uint64_t id, std::uint64_t count);
  // A key reset stored (key_reset): its first record (the scope asked for) under "reset", with
  // what it forgot per counter.
  void key_reset_stored(std::uint64_t id, const core::KeyReset& reset, core::WallTime now);
  // Op report: the signal was recorded.
  void reported(std::uint64_t id);

 private:
  // One override record (a set's, or a reset's) under `field`.
  void stored_record(std::uint64_t id, std::string_view field, const core::OverrideRecord& record,
                     core::WallTime now, std::span<const core::ResetTarget> forgotten);
  std::size_t begin_frame();
  void end_frame(std::size_t header_at);

  std::string& out_;
  std::size_t batch_header_at_ = 0;
};

}  // namespace drl::wire
