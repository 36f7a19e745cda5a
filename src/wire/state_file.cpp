#include "wire/state_file.hpp"

#include <xxhash.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <msgpack.hpp>
#include <utility>

#include "core/assert.hpp"
#include "core/bounds.hpp"
#include "wire/cluster_body.hpp"
#include "wire/msgpack_out.hpp"

namespace drl::wire {
namespace {

constexpr std::size_t kFormatOffset = 8;
constexpr std::size_t kLengthOffset = 12;
constexpr std::size_t kChecksumOffset = 20;
static_assert(state_file_magic.size() == kFormatOffset);
static_assert(kChecksumOffset + 8 == state_file_header_bytes);

constexpr std::size_t kNodeIdBytesMax = bounds::node_id_bytes_max;
static_assert(kNodeIdBytesMax < 256, "a node id is at most a str8");

// Each record's largest encoding (array header, a str8 node id, uint64 / uint32 at full width)
// and its smallest (fixarray, a one-byte fixstr, fixints): the first sizes files for readers,
// the second bounds what a declared array size may claim of the payload.
constexpr std::size_t kArrayHeaderBytesMax = 5;
constexpr std::size_t kNodeIdFieldBytesMax = 2 + kNodeIdBytesMax;
constexpr std::size_t kPayloadFixedBytesMax =
    1 + kNodeIdFieldBytesMax + 9 + 9 + 2 * kArrayHeaderBytesMax;
constexpr std::size_t kOriginBytesMax = 1 + kNodeIdFieldBytesMax + 9;
constexpr std::size_t kCountBytesMax = 1 + 3 * 9 + 2 * 5;
constexpr std::size_t kOriginBytesMin = 1 + 2 + 1;
constexpr std::size_t kCountBytesMin = 1 + 5;

// The payload's fields, in order, and those of each record.
enum TopField : std::uint32_t { kSaverId, kSaverIncarnation, kSavedUnixMs, kOrigins, kCounts };
constexpr std::uint32_t kTopFields = 5;
enum OriginField : std::uint32_t { kOriginNodeId, kOriginIncarnation };
constexpr std::uint32_t kOriginFields = 2;
enum CountField : std::uint32_t { kCounterId, kWindowMs, kWindowId, kOriginIndex, kCount };
constexpr std::uint32_t kCountFields = 5;

constexpr std::array<std::string_view, kTopFields> kTopFieldNames = {
    "the saver's node id", "the saver's incarnation", "saved_unix_ms", "origins", "counts"};
constexpr std::array<std::string_view, kOriginFields> kOriginFieldNames = {"node id",
                                                                           "incarnation"};
constexpr std::array<std::string_view, kCountFields> kCountFieldNames = {
    "counter id", "window ms", "window id", "origin index", "count"};

void append_big_endian(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = bytes; i-- > 0;) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t read_big_endian(std::string_view bytes, std::size_t offset, std::size_t size) {
  std::uint64_t value = 0;
  for (std::size_t i = offset; i < offset + size; ++i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return value;
}

std::uint64_t checksum_of(std::string_view payload) {
  return XXH3_64bits(payload.data(), payload.size());
}

std::string hex(std::uint64_t value) {
  std::array<char, 16> digits{};
  const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value, 16).ptr;
  return "0x" + std::string(digits.data(), end);
}

std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

std::size_t saturating_multiply(std::size_t a, std::size_t b) {
  return b != 0 && a > std::numeric_limits<std::size_t>::max() / b
             ? std::numeric_limits<std::size_t>::max()
             : a * b;
}

bool node_id_valid(std::size_t bytes) {
  return bytes >= 1 && bytes <= kNodeIdBytesMax;
}

// Builds SavedCounts straight from msgpack-c's parse events, checking each against the layout as
// it comes: msgpack-c's own object tree would allocate every array's declared size first.
class PayloadReader : public msgpack::null_visitor {
 public:
  PayloadReader(std::size_t payload_bytes, StateFileLimits limits)
      : payload_bytes_(payload_bytes), limits_(limits) {}

  bool visit_nil() { return unexpected("nil"); }
  bool visit_boolean(bool) { return unexpected("a boolean"); }
  bool visit_float32(float) { return unexpected("a float"); }
  bool visit_float64(double) { return unexpected("a float"); }
  bool visit_bin(const char*, std::uint32_t) { return unexpected("bin"); }
  bool visit_ext(const char*, std::uint32_t) { return unexpected("ext"); }
  bool start_map(std::uint32_t) { return unexpected("a map"); }

  bool visit_str(const char* data, std::uint32_t size) {
    const bool saver = depth_ == 1 && field() == kSaverId;
    const bool origin = depth_ == 3 && in_origins() && field() == kOriginNodeId;
    if (!saver && !origin) return unexpected("a string");
    if (!node_id_valid(size)) {
      return corrupt(where() + " is " + std::to_string(size) + " bytes, not 1 to " +
                     std::to_string(kNodeIdBytesMax));
    }
    (saver ? counts_.saver.node_id : counts_.origins.back().node_id).assign(data, size);
    return true;
  }

  bool visit_positive_integer(std::uint64_t value) {
    if (depth_ == 1) {
      if (field() == kSaverIncarnation) {
        counts_.saver.incarnation = value;
        return true;
      }
      if (field() == kSavedUnixMs) {
        if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return corrupt("saved_unix_ms " + std::to_string(value) + " is over the int64 range");
        }
        counts_.saved_unix_ms = static_cast<std::int64_t>(value);
        return true;
      }
    } else if (depth_ == 3 && in_origins()) {
      if (field() == kOriginIncarnation) {
        counts_.origins.back().incarnation = value;
        return true;
      }
    } else if (depth_ == 3) {
      return count_field(value);
    }
    return unexpected("an integer");
  }

  // msgpack-c reports every signed format here, whatever the sign: the value is what counts.
  bool visit_negative_integer(std::int64_t value) {
    if (value >= 0) return visit_positive_integer(static_cast<std::uint64_t>(value));
    if (depth_ == 1 && field() == kSavedUnixMs) {
      counts_.saved_unix_ms = value;
      return true;
    }
    return unexpected("a negative integer");
  }

  bool start_array(std::uint32_t size) {
    if (depth_ == 0) {
      if (size != kTopFields) {
        return corrupt("the payload is an array of " + std::to_string(size) + ", not " +
                       std::to_string(kTopFields) + " fields");
      }
    } else if (depth_ == 1 && field() == kOrigins) {
      if (!list_fits(size, limits_.origins_max, kOriginBytesMin, "origins")) return false;
      counts_.origins.reserve(size);
    } else if (depth_ == 1 && field() == kCounts) {
      if (!list_fits(size, limits_.counts_max, kCountBytesMin, "counts")) return false;
      counts_.counts.reserve(size);
    } else if (depth_ == 2) {
      const std::uint32_t fields = in_origins() ? kOriginFields : kCountFields;
      if (size != fields) {
        return corrupt(std::string(in_origins() ? "origin " : "count ") +
                       std::to_string(position_[1]) + " has " + std::to_string(size) +
                       " fields, not " + std::to_string(fields));
      }
      if (in_origins()) {
        counts_.origins.emplace_back();
      } else {
        counts_.counts.emplace_back();
      }
    } else {
      return unexpected("an array");
    }
    position_[depth_] = 0;
    ++depth_;
    return true;
  }

  bool end_array_item() {
    ++position_[depth_ - 1];
    return true;
  }

  bool end_array() {
    --depth_;
    return true;
  }

  void parse_error(std::size_t, std::size_t at) {
    corrupt("not msgpack at payload byte " + std::to_string(at));
  }
  void insufficient_bytes(std::size_t, std::size_t) {
    corrupt("the payload ends inside its msgpack");
  }

  // After a parse that stopped early: what stopped it.
  bool failed() const { return !detail_.empty(); }
  StateFileProblem problem() const { return problem_; }
  std::string detail() const { return detail_; }
  core::SavedCounts take() { return std::move(counts_); }

 private:
  std::uint32_t field() const { return position_[depth_ - 1]; }
  // Below the top level, which list we are in (only origins and counts hold arrays).
  bool in_origins() const { return position_[0] == kOrigins; }

  std::string where() const {
    if (depth_ == 1) return std::string(kTopFieldNames[field()]);
    const std::string record =
        std::string(in_origins() ? "origin " : "count ") + std::to_string(position_[1]);
    if (depth_ == 2) return record;
    return record + "'s " +
           std::string(in_origins() ? kOriginFieldNames[field()] : kCountFieldNames[field()]);
  }

  bool unexpected(std::string_view what) {
    if (depth_ == 0) return corrupt("the payload is " + std::string(what) + ", not an array");
    return corrupt(where() + " is " + std::string(what));
  }

  bool corrupt(std::string detail) { return fail(StateFileProblem::corrupt, std::move(detail)); }

  bool fail(StateFileProblem problem, std::string detail) {
    if (!failed()) {
      problem_ = problem;
      detail_ = std::move(detail);
    }
    return false;
  }

  // A declared list size, before anything is reserved for it.
  bool list_fits(std::uint32_t size, std::size_t limit, std::size_t record_bytes_min,
                 std::string_view name) {
    if (size > payload_bytes_ / record_bytes_min) {
      return corrupt("declares " + std::to_string(size) + " " + std::string(name) +
                     ", more than its " + std::to_string(payload_bytes_) + " bytes can hold");
    }
    if (size > limit) {
      return fail(StateFileProblem::too_large, std::to_string(size) + " " + std::string(name) +
                                                   ", over the limit of " + std::to_string(limit));
    }
    return true;
  }

  bool count_field(std::uint64_t value) {
    core::SlotUpdate& count = counts_.counts.back();
    switch (field()) {
      case kCounterId:
        if (value == 0) return corrupt(where() + " is 0 (an empty store slot)");
        count.counter_id = value;
        return true;
      case kWindowMs:
        if (value == 0) return corrupt(where() + " is 0");
        count.window_ms = value;
        return true;
      case kWindowId:
        count.window_id = value;
        return true;
      case kOriginIndex:
        if (value >= counts_.origins.size()) {
          return corrupt(where() + " is " + std::to_string(value) + ", and there are " +
                         std::to_string(counts_.origins.size()) + " origins");
        }
        count.origin = static_cast<std::uint32_t>(value);
        return true;
      case kCount:
        if (value == 0 || value > std::numeric_limits<std::uint32_t>::max()) {
          return corrupt(where() + " is " + std::to_string(value) + ", not 1 to 2^32-1");
        }
        count.count = static_cast<std::uint32_t>(value);
        return true;
      default:
        return unexpected("an integer");
    }
  }

  const std::size_t payload_bytes_;
  const StateFileLimits limits_;
  core::SavedCounts counts_;
  // Arrays open (0: none yet, 1: the payload's, 2: a list, 3: a record), and the item each is at.
  std::size_t depth_ = 0;
  std::array<std::uint32_t, 3> position_{};
  StateFileProblem problem_ = StateFileProblem::corrupt;
  std::string detail_;
};

DecodedStateFile refused(StateFileProblem problem, std::string detail) {
  return DecodedStateFile{std::nullopt, problem, std::move(detail)};
}

DecodedStateFile decode_payload(std::string_view payload, std::uint64_t format,
                                StateFileLimits limits) {
  PayloadReader reader(payload.size(), limits);
  std::size_t offset = 0;
  try {
    const bool parsed = msgpack::parse(payload.data(), payload.size(), offset, reader);
    if (reader.failed()) return refused(reader.problem(), reader.detail());
    if (!parsed) return refused(StateFileProblem::corrupt, "the payload is not msgpack");
  } catch (const std::exception& e) {
    return refused(StateFileProblem::corrupt,
                   std::string("the payload could not be read: ") + e.what());
  }
  core::SavedCounts saved = reader.take();
  if (format >= 2) {
    // The override records: refused whole if any is out of bounds (a correct saver writes only
    // records its table accepted).
    const std::string_view rest = payload.substr(offset);
    std::size_t consumed = 0;
    if (!decode_override_records(rest, limits.overrides_max, saved.overrides, consumed)) {
      // Too many, or broken? Read again with room for as many as the bytes can hold (at least
      // a byte each: a small file cannot make this allocate much).
      std::vector<core::OverrideRecord> unbounded;
      if (rest.size() > limits.overrides_max &&
          decode_override_records(rest, rest.size(), unbounded, consumed)) {
        return refused(StateFileProblem::too_large, std::to_string(unbounded.size()) +
                                                        " override records, over the limit of " +
                                                        std::to_string(limits.overrides_max));
      }
      return refused(StateFileProblem::corrupt, "the override records do not check out");
    }
    offset += consumed;
  }
  if (offset != payload.size()) {
    return refused(StateFileProblem::corrupt,
                   std::to_string(payload.size() - offset) + " bytes after the payload's msgpack");
  }
  return DecodedStateFile{std::move(saved), StateFileProblem::corrupt, {}};
}

}  // namespace

std::string_view state_file_problem_name(StateFileProblem problem) {
  switch (problem) {
    case StateFileProblem::not_a_state_file:
      return "not_a_state_file";
    case StateFileProblem::truncated:
      return "truncated";
    case StateFileProblem::corrupt:
      return "corrupt";
    case StateFileProblem::newer_format:
      return "newer_format";
    case StateFileProblem::too_large:
      return "too_large";
    case StateFileProblem::foreign:
      return "foreign";
    case StateFileProblem::unreadable:
      return "unreadable";
  }
  return "unknown";
}

std::string_view state_file_problem_description(StateFileProblem problem) {
  switch (problem) {
    case StateFileProblem::not_a_state_file:
      return "not a drl state file";
    case StateFileProblem::truncated:
      return "cut short: a write that did not finish, or a full disk";
    case StateFileProblem::corrupt:
      return "damaged: its length, checksum or records do not check out";
    case StateFileProblem::newer_format:
      return "written by a newer drld in a format this one cannot read";
    case StateFileProblem::too_large:
      return "more origins or counts than this node's store can hold";
    case StateFileProblem::foreign:
      return "saved by another node";
    case StateFileProblem::unreadable:
      return "could not be read";
  }
  return "unknown problem";
}

std::size_t state_file_bytes_max(StateFileLimits limits) {
  std::size_t bytes = state_file_header_bytes + kPayloadFixedBytesMax;
  bytes = saturating_add(bytes, saturating_multiply(limits.origins_max, kOriginBytesMax));
  bytes = saturating_add(bytes, kArrayHeaderBytesMax);
  bytes =
      saturating_add(bytes, saturating_multiply(limits.overrides_max, override_record_bytes_max));
  return saturating_add(bytes, saturating_multiply(limits.counts_max, kCountBytesMax));
}

std::string encode_state_file(const core::SavedCounts& saved) {
  std::string out;
  encode_state_file(saved, out);
  return out;
}

void encode_state_file(const core::SavedCounts& saved, std::string& out) {
  DRL_ASSERT(node_id_valid(saved.saver.node_id.size()), "the saver's node id is 1 to 64 bytes");
  DRL_ASSERT(saved.origins.size() <= std::numeric_limits<std::uint32_t>::max() &&
                 saved.counts.size() <= std::numeric_limits<std::uint32_t>::max(),
             "a msgpack array holds the origins and the counts");
  out.clear();
  out.reserve(state_file_header_bytes + kPayloadFixedBytesMax +
              saved.origins.size() * kOriginBytesMax + saved.counts.size() * kCountBytesMax);
  // The header's length and checksum are filled in once the payload is written after it.
  out.append(state_file_magic);
  append_big_endian(out, state_file_format, kLengthOffset - kFormatOffset);
  out.resize(state_file_header_bytes);

  StringSink sink{out};
  StringPacker pk(sink);
  pk.pack_array(kTopFields);
  pack_str(pk, saved.saver.node_id);
  pk.pack_uint64(saved.saver.incarnation);
  pk.pack_int64(saved.saved_unix_ms);
  pk.pack_array(static_cast<std::uint32_t>(saved.origins.size()));
  for (const core::Origin& origin : saved.origins) {
    DRL_ASSERT(node_id_valid(origin.node_id.size()), "an origin's node id is 1 to 64 bytes");
    pk.pack_array(kOriginFields);
    pack_str(pk, origin.node_id);
    pk.pack_uint64(origin.incarnation);
  }
  pk.pack_array(static_cast<std::uint32_t>(saved.counts.size()));
  for (const core::SlotUpdate& count : saved.counts) {
    DRL_ASSERT(count.origin < saved.origins.size(), "a saved count's origin is listed");
    DRL_ASSERT(count.counter_id != 0 && count.window_ms != 0 && count.count != 0,
               "a saved count has a counter id, a window and a count");
    pk.pack_array(kCountFields);
    pk.pack_uint64(count.counter_id);
    pk.pack_uint64(count.window_ms);
    pk.pack_uint64(count.window_id);
    pk.pack_uint32(count.origin);
    pk.pack_uint32(count.count);
  }
  pk.pack_array(static_cast<std::uint32_t>(saved.overrides.size()));
  for (const core::OverrideRecord& record : saved.overrides) pack_override_record(pk, record);

  const std::string_view payload = std::string_view(out).substr(state_file_header_bytes);
  std::string fields;
  append_big_endian(fields, payload.size(), kChecksumOffset - kLengthOffset);
  append_big_endian(fields, checksum_of(payload), state_file_header_bytes - kChecksumOffset);
  out.replace(kLengthOffset, fields.size(), fields);
}

DecodedStateFile decode_state_file(std::string_view bytes, StateFileLimits limits) {
  const std::string_view magic = bytes.substr(0, state_file_magic.size());
  if (magic != state_file_magic.substr(0, magic.size())) {
    return refused(StateFileProblem::not_a_state_file,
                   "does not begin with \"" + std::string(state_file_magic) + "\"");
  }
  if (bytes.size() < state_file_header_bytes) {
    return refused(StateFileProblem::truncated,
                   std::to_string(bytes.size()) + " bytes, shorter than the " +
                       std::to_string(state_file_header_bytes) + "-byte header");
  }
  const std::uint64_t format = read_big_endian(bytes, kFormatOffset, kLengthOffset - kFormatOffset);
  if (format > state_file_format) {
    return refused(StateFileProblem::newer_format, "format " + std::to_string(format) +
                                                       ", this drld reads formats up to " +
                                                       std::to_string(state_file_format));
  }
  if (format == 0) return refused(StateFileProblem::corrupt, "format 0");
  const std::uint64_t declared =
      read_big_endian(bytes, kLengthOffset, kChecksumOffset - kLengthOffset);
  const std::string_view payload = bytes.substr(state_file_header_bytes);
  if (payload.size() != declared) {
    return refused(
        payload.size() < declared ? StateFileProblem::truncated : StateFileProblem::corrupt,
        "a payload of " + std::to_string(payload.size()) + " bytes, the header declares " +
            std::to_string(declared));
  }
  const std::uint64_t expected =
      read_big_endian(bytes, kChecksumOffset, state_file_header_bytes - kChecksumOffset);
  const std::uint64_t actual = checksum_of(payload);
  if (actual != expected) {
    return refused(StateFileProblem::corrupt,
                   "the payload's checksum is " + hex(actual) + ", the header's " + hex(expected));
  }
  return decode_payload(payload, format, limits);
}

}  // namespace drl::wire
