// The state file: a node's saved counts (core::SavedCounts) as bytes on disk, read back at the
// next start (docs/operations.md, "State directory").
//
// Layout, format 2 (integers big-endian):
//
//   offset  bytes  field
//        0      8  magic "DRLSTATE"
//        8      4  format version (u32)
//       12      8  payload length in bytes (u64)
//       20      8  XXH3-64 of the payload (u64)
//       28      n  payload: msgpack
//                    [saver node id (str), saver incarnation (uint), saved_unix_ms (int),
//                     origins: [[node id (str), incarnation (uint)], ...],
//                     counts:  [[counter id, window ms, window id, origin index, count], ...]]
//                  where origin index is a position in `origins`; then, in format 2, a second
//                  msgpack array right after it: the override table's records, each as the
//                  cluster protocol's overrides message carries it (docs/protocol.md), key
//                  overrides and key resets included. Format 1 (no records) is still read.
//
// A file is read once, at start, and a wrong count is worse than none: decoding accepts a file
// only if every check passes, and otherwise says which one failed, in this order:
//   - the magic: a file that is not ours (another program's, or a path mistaken for the state
//     file) is not_a_state_file. A file that holds nothing but a prefix of the magic, or the
//     magic and less than the whole header, is truncated: a write cut short, not another file.
//   - the format, right after the magic: a newer drld may change everything after it, so a
//     downgrade refuses a file it cannot read (newer_format) before reading any more of it.
//     Format 0 was never written: corrupt.
//   - the payload length: fewer bytes than declared is truncated (a write that did not finish,
//     or a full disk); more is corrupt (bytes appended, or the length field damaged).
//   - the checksum: a payload damaged on disk is corrupt. Only then is the payload parsed.
//   - the limits: more origins, counts or override records than the node can hold is too_large
//   (saved by a larger
//     store: max_keys or max_origins lowered since). Before anything is reserved for a list, its
//     declared size is checked against the bytes that could hold it (more is corrupt), then
//     against the limit: a small file cannot make the decoder allocate much.
//   - the records: what a correct saver never writes is corrupt: msgpack that is not exactly the
//     layout above (wrong type, field count or nesting, bytes after it), a node id empty or over
//     bounds::node_id_bytes_max bytes, an origin index outside `origins`, a counter id of 0
//     (it marks an empty store slot), a window of 0 ms (window ids divide by it), a count of 0
//     (a saver writes nonzero counts only).
// Whether a window's length is one the store can hold, and whether it has ended, is left to
// core::restore_counts, which drops such counts one by one.
//
// The format is append-only: a change that old readers cannot read takes a new format version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/saved_counts.hpp"

namespace drl::wire {

inline constexpr std::uint32_t state_file_format = 2;
inline constexpr std::string_view state_file_magic = "DRLSTATE";
// magic 8, format 4, payload length 8, checksum 8
inline constexpr std::size_t state_file_header_bytes = 28;

// Why a state file was not read back. Names are metric label values: append-only.
enum class StateFileProblem : std::uint8_t {
  not_a_state_file,  // no magic: not drl's file
  truncated,         // shorter than its header or its declared payload
  corrupt,           // checksum, length or records that do not check out
  newer_format,      // written in a format this drld does not know
  too_large,         // more origins or counts than the store can hold
  // decode_state_file never reports these two: the daemon does, for files it read.
  foreign,     // saved by another node
  unreadable,  // could not be read at all (an I/O error)
};
inline constexpr std::size_t state_file_problem_count =
    static_cast<std::size_t>(StateFileProblem::unreadable) + 1;

// "not_a_state_file", "truncated", ...: the enumerator's name, for a metric label or a log line.
std::string_view state_file_problem_name(StateFileProblem problem);
// One line for an operator: what the problem means.
std::string_view state_file_problem_description(StateFileProblem problem);

// The most a store can take back: a file with more is refused as too_large.
struct StateFileLimits {
  std::size_t origins_max;
  std::size_t counts_max;
  std::size_t overrides_max = 0;  // the override table's records_max
};

// The largest file encode_state_file writes for counts within `limits`, every field at its
// largest encoding (saturates at SIZE_MAX). A reader can refuse a larger file without reading it.
std::size_t state_file_bytes_max(StateFileLimits limits);

// The file for `saved`. Precondition (an always-on assertion; a snapshot of the store meets it,
// and a file that broke it would be refused at the next start, every count lost): node ids of
// 1 to bounds::node_id_bytes_max bytes, origin indices inside `origins`, nonzero counter ids,
// windows and counts.
std::string encode_state_file(const core::SavedCounts& saved);
// The same into `out` (replacing what it held, reusing its memory).
void encode_state_file(const core::SavedCounts& saved, std::string& out);

// Either the counts, or the problem and a detail for the log ("payload of 90 bytes, the header
// declares 120").
struct DecodedStateFile {
  std::optional<core::SavedCounts> counts;               // set when the file decoded
  StateFileProblem problem = StateFileProblem::corrupt;  // when it did not
  std::string detail;                                    // when it did not
};

// Reads a state file's bytes (untrusted: any bytes at all). Never throws, and allocates no more
// than the limits allow and the bytes can hold. Decoded counts are within `limits` and meet
// encode_state_file's precondition.
DecodedStateFile decode_state_file(std::string_view bytes, StateFileLimits limits);

}  // namespace drl::wire
