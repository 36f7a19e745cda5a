// Fuzzes the state file codec (wire/state_file.hpp) as drld reads its state file at start:
// decode_state_file on any bytes, with small limits so that inputs reach them.
//
// Invariants: nothing crashes, leaks or throws; a file that decodes holds no more origins,
// counts and override records than the limits, and meets encode_state_file's precondition (node ids
// of 1 to 64 bytes, origin indices inside the origins, nonzero counter ids, windows and counts); it
// encodes again into a file of at most state_file_bytes_max(limits) bytes that decodes to the same
// counts and encodes to the same bytes, and that file cut by a byte is truncated; a refused file
// names a problem the decoder reports (never foreign or unreadable, which are the daemon's) and
// why; a payload the harness sealed is refused only for what is in it (corrupt or too_large).
//
// Input: [control byte][rest]. Control bits:
//   bit 0     0: the rest is a file as read from disk; 1: the rest is a payload, which the harness
//             seals with a valid header (format, length, checksum), so that mutated payloads get
//             past the checksum to the msgpack reader
//   bits 1-2  the limits (origins, counts, override records): (4, 16, 4), (0, 0, 0), (1, 1, 1),
//             (64, 256, 64)
//   bit 3     the format a sealed payload gets: 0 the current one, 1 format 1 (counts only)
#include <xxhash.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bounds.hpp"
#include "fuzz_assert.hpp"
#include "wire/state_file.hpp"

namespace {

using namespace drl;
using wire::StateFileProblem;

constexpr std::array<wire::StateFileLimits, 4> kLimits = {
    wire::StateFileLimits{4, 16, 4}, wire::StateFileLimits{0, 0, 0}, wire::StateFileLimits{1, 1, 1},
    wire::StateFileLimits{64, 256, 64}};

void append_big_endian(std::string& out, std::uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// A header of `format` around `payload` (the layout of state_file.hpp, written out here).
std::string sealed(std::string_view payload, std::uint32_t format) {
  std::string file(wire::state_file_magic);
  append_big_endian(file, format, 4);
  append_big_endian(file, payload.size(), 8);
  append_big_endian(file, XXH3_64bits(payload.data(), payload.size()), 8);
  file.append(payload);
  return file;
}

bool node_id_valid(const std::string& node_id) {
  return !node_id.empty() && node_id.size() <= 64;
}

void check_decoded(const core::SavedCounts& saved, wire::StateFileLimits limits) {
  FUZZ_ASSERT(saved.origins.size() <= limits.origins_max);
  FUZZ_ASSERT(saved.counts.size() <= limits.counts_max);
  FUZZ_ASSERT(saved.overrides.size() <= limits.overrides_max);
  for (const core::OverrideRecord& record : saved.overrides) {
    FUZZ_ASSERT(!record.scope.policy.empty() && !record.stamp.node_id.empty());
    FUZZ_ASSERT(record.marks.size() <= drl::bounds::limits_per_item_max);
  }
  FUZZ_ASSERT(node_id_valid(saved.saver.node_id));
  for (const core::Origin& origin : saved.origins) FUZZ_ASSERT(node_id_valid(origin.node_id));
  for (const core::SlotUpdate& count : saved.counts) {
    FUZZ_ASSERT(count.origin < saved.origins.size());
    FUZZ_ASSERT(count.counter_id != 0 && count.window_ms != 0 && count.count != 0);
  }
}

void check_round_trip(const core::SavedCounts& saved, wire::StateFileLimits limits) {
  const std::string file = wire::encode_state_file(saved);
  FUZZ_ASSERT(file.size() <= wire::state_file_bytes_max(limits));
  const wire::DecodedStateFile again = wire::decode_state_file(file, limits);
  FUZZ_ASSERT(again.counts.has_value() && *again.counts == saved);
  FUZZ_ASSERT(wire::encode_state_file(*again.counts) == file);
  const wire::DecodedStateFile cut =
      wire::decode_state_file(std::string_view(file).substr(0, file.size() - 1), limits);
  FUZZ_ASSERT(!cut.counts.has_value() && cut.problem == StateFileProblem::truncated);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool seal = (control & 0x01) != 0;
  const wire::StateFileLimits limits = kLimits[(control >> 1) & 3];

  const std::uint32_t format = (control & 0x08) != 0 ? 1 : wire::state_file_format;
  const std::string file = seal ? sealed(rest, format) : std::string(rest);
  const wire::DecodedStateFile decoded = wire::decode_state_file(file, limits);
  if (decoded.counts) {
    check_decoded(*decoded.counts, limits);
    check_round_trip(*decoded.counts, limits);
  } else {
    FUZZ_ASSERT(decoded.problem <= StateFileProblem::too_large);
    FUZZ_ASSERT(!decoded.detail.empty());
    if (seal) {
      FUZZ_ASSERT(decoded.problem == StateFileProblem::corrupt ||
                  decoded.problem == StateFileProblem::too_large);
    }
  }
  return 0;
}
