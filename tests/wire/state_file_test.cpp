// The state file codec (wire/state_file.hpp): round trips, frozen bytes of formats 1 and 2 (2
// adds the override table's records), and damaged
// or hostile files, each refused with the problem its check names. Payloads that break one rule
// are built by hand and sealed with a valid header, so that the check under test is the one that
// fires.
#include <doctest/doctest.h>

#include <xxhash.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "hex_text.hpp"
#include "wire/cluster_body.hpp"
#include "wire/msgpack_out.hpp"
#include "wire/state_file.hpp"

using namespace drl;
using namespace drl::wire;

namespace {

using drl::wire::testing::from_hex;
using drl::wire::testing::to_hex;

constexpr StateFileLimits kRoomy{16, 64, 8};
constexpr std::uint32_t kFormat1 = 1;

core::SavedCounts sample() {
  core::SavedCounts saved;
  saved.saver = core::Origin{"node-a", 1'800'000'000'000'003ULL};
  saved.saved_unix_ms = 1'800'000'123'456;
  saved.origins = {core::Origin{"node-a", 1'800'000'000'000'001ULL},
                   core::Origin{"node-b", 1'800'000'000'000'002ULL}, core::Origin{"node-c", 7}};
  saved.counts = {core::SlotUpdate{0x1234'5678'9abc'def0ULL, 1000, 1'800'000'123, 0, 5},
                  core::SlotUpdate{0x1234'5678'9abc'def0ULL, 1000, 1'800'000'123, 1, 70'000},
                  core::SlotUpdate{0x1234'5678'9abc'def0ULL, 1000, 1'800'000'122, 1, 3},
                  core::SlotUpdate{42, 3'600'000, 500'000, 2, 0xffff'ffffU},
                  core::SlotUpdate{43, 31'536'000'000ULL, 57, 0, 1}};
  return saved;
}

// sample() with an override table: a policy override and a key reset.
core::SavedCounts sample_with_overrides() {
  core::SavedCounts saved = sample();
  core::OverrideRecord halve;
  halve.scope = core::OverrideScope{"api", "free"};
  halve.kind = core::OverrideKind::factor;
  halve.value = 500;
  halve.set_wall_ms = 1'800'000'000'000;
  halve.expires_wall_ms = 1'800'000'900'000;
  halve.retain_until_wall_ms = 1'800'000'900'000;
  halve.reason = "INC-1";
  halve.stamp = core::HlcStamp{1'800'000'000'000, 1, "node-a"};
  core::OverrideRecord reset = halve;
  reset.scope = core::OverrideScope{"api", "", "", 0, "alice", true};
  reset.kind = core::OverrideKind::reset;
  reset.value = 0;
  reset.marks = {core::ResetMark{42, 3'600'000, 500'000, 17, 3}};
  reset.stamp.node_id = "node-b";
  saved.overrides = {halve, reset};
  return saved;
}

core::SavedCounts empty_store() {
  core::SavedCounts saved;
  saved.saver = core::Origin{"node-a", 1'800'000'000'000'003ULL};
  saved.saved_unix_ms = 1'800'000'123'456;
  return saved;
}

void append_big_endian(std::string& out, std::uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// A file around `payload` whose header checks out (the layout written out again here, apart from
// the codec's own).
// Hand-built payloads have format 1's layout (counts only), so they are sealed as format 1.
std::string sealed(std::string_view payload, std::uint32_t format = kFormat1) {
  std::string file = "DRLSTATE";
  append_big_endian(file, format, 4);
  append_big_endian(file, payload.size(), 8);
  append_big_endian(file, XXH3_64bits(payload.data(), payload.size()), 8);
  file.append(payload);
  return file;
}

// A payload written by hand.
std::string payload(const std::function<void(StringPacker&)>& write) {
  std::string out;
  StringSink sink{out};
  StringPacker pk(sink);
  write(pk);
  return out;
}

// The payload of `saved` as the layout has it, with `count_fields` written for each count.
std::string payload_of(
    const core::SavedCounts& saved,
    const std::function<void(StringPacker&, const core::SlotUpdate&)>& count_fields = nullptr) {
  return payload([&](StringPacker& pk) {
    pk.pack_array(5);
    pack_str(pk, saved.saver.node_id);
    pk.pack_uint64(saved.saver.incarnation);
    pk.pack_int64(saved.saved_unix_ms);
    pk.pack_array(static_cast<std::uint32_t>(saved.origins.size()));
    for (const core::Origin& origin : saved.origins) {
      pk.pack_array(2);
      pack_str(pk, origin.node_id);
      pk.pack_uint64(origin.incarnation);
    }
    pk.pack_array(static_cast<std::uint32_t>(saved.counts.size()));
    for (const core::SlotUpdate& count : saved.counts) {
      if (count_fields) {
        count_fields(pk, count);
        continue;
      }
      pk.pack_array(5);
      pk.pack_uint64(count.counter_id);
      pk.pack_uint64(count.window_ms);
      pk.pack_uint64(count.window_id);
      pk.pack_uint64(count.origin);
      pk.pack_uint64(count.count);
    }
  });
}

void check_refused(const DecodedStateFile& decoded, StateFileProblem problem) {
  INFO("detail: " << decoded.detail);
  CHECK_FALSE(decoded.counts.has_value());
  CHECK(state_file_problem_name(decoded.problem) == state_file_problem_name(problem));
  CHECK_FALSE(decoded.detail.empty());
}

// Format 1, frozen: sample() and empty_store() as format 1 wrote them; format 2: sample() with
// overrides as format 2 writes it. A drld must read every file an older one left: if these fail,
// change the code, not the bytes (a new format gets files of its own). tests/fuzz/make_seeds.py
// reads them from here for the fuzz seeds.
constexpr std::string_view kFrozenSample = R"(
44 52 4c 53 54 41 54 45 00 00 00 01 00 00 00 00 00 00 00 a7 69 3f fc d1 3a 4c 4b c6 95 a6 6e 6f
64 65 2d 61 cf 00 06 65 17 28 98 80 03 cf 00 00 01 a3 18 5e 32 40 93 92 a6 6e 6f 64 65 2d 61 cf
00 06 65 17 28 98 80 01 92 a6 6e 6f 64 65 2d 62 cf 00 06 65 17 28 98 80 02 92 a6 6e 6f 64 65 2d
63 07 95 95 cf 12 34 56 78 9a bc de f0 cd 03 e8 ce 6b 49 d2 7b 00 05 95 cf 12 34 56 78 9a bc de
f0 cd 03 e8 ce 6b 49 d2 7b 01 ce 00 01 11 70 95 cf 12 34 56 78 9a bc de f0 cd 03 e8 ce 6b 49 d2
7a 01 03 95 2a ce 00 36 ee 80 ce 00 07 a1 20 02 ce ff ff ff ff 95 2b cf 00 00 00 07 57 b1 2c 00
39 00 01
)";
constexpr std::string_view kFrozenEmptyStore = R"(
44 52 4c 53 54 41 54 45 00 00 00 01 00 00 00 00 00 00 00 1c a4 22 75 ed 6c 58 a9 86 95 a6 6e 6f
64 65 2d 61 cf 00 06 65 17 28 98 80 03 cf 00 00 01 a3 18 5e 32 40 90 90
)";
constexpr std::string_view kFrozenSampleWithOverrides = R"(
44 52 4c 53 54 41 54 45 00 00 00 02 00 00 00 00 00 00 01 3d 36 62 3f 3b 49 60 fc a9 95 a6 6e 6f
64 65 2d 61 cf 00 06 65 17 28 98 80 03 cf 00 00 01 a3 18 5e 32 40 93 92 a6 6e 6f 64 65 2d 61 cf
00 06 65 17 28 98 80 01 92 a6 6e 6f 64 65 2d 62 cf 00 06 65 17 28 98 80 02 92 a6 6e 6f 64 65 2d
63 07 95 95 cf 12 34 56 78 9a bc de f0 cd 03 e8 ce 6b 49 d2 7b 00 05 95 cf 12 34 56 78 9a bc de
f0 cd 03 e8 ce 6b 49 d2 7b 01 ce 00 01 11 70 95 cf 12 34 56 78 9a bc de f0 cd 03 e8 ce 6b 49 d2
7a 01 03 95 2a ce 00 36 ee 80 ce 00 07 a1 20 02 ce ff ff ff ff 95 2b cf 00 00 00 07 57 b1 2c 00
39 00 01 92 9d a3 61 70 69 a4 66 72 65 65 a0 00 02 cd 01 f4 cf 00 00 01 a3 18 5c 50 00 cf 00 00
01 a3 18 6a 0b a0 cf 00 00 01 a3 18 6a 0b a0 a5 49 4e 43 2d 31 cf 00 00 01 a3 18 5c 50 00 01 a6
6e 6f 64 65 2d 61 dc 00 10 a3 61 70 69 a0 a0 00 04 00 cf 00 00 01 a3 18 5c 50 00 cf 00 00 01 a3
18 6a 0b a0 cf 00 00 01 a3 18 6a 0b a0 a5 49 4e 43 2d 31 cf 00 00 01 a3 18 5c 50 00 01 a6 6e 6f
64 65 2d 62 a5 61 6c 69 63 65 c3 95 2a ce 00 36 ee 80 ce 00 07 a1 20 11 03
)";

}  // namespace

TEST_CASE("a saved state file decodes to the same counts") {
  const core::SavedCounts saved = sample();
  const std::string file = encode_state_file(saved);
  CHECK(file.substr(0, 8) == "DRLSTATE");
  CHECK(file.size() <= state_file_bytes_max(StateFileLimits{3, 5}));
  const DecodedStateFile decoded = decode_state_file(file, kRoomy);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == saved);
  CHECK(decoded.detail.empty());
  // The header is the layout's: the payload is the sample's, as written by hand, then an empty
  // list of override records (0x90).
  CHECK(file == sealed(payload_of(saved) + "\x90", state_file_format));
}

TEST_CASE("the override table's records, key resets included, are saved with the counts") {
  const core::SavedCounts saved = sample_with_overrides();
  const std::string file = encode_state_file(saved);
  CHECK(file.size() <= state_file_bytes_max(StateFileLimits{3, 5, 2}));
  const DecodedStateFile decoded = decode_state_file(file, kRoomy);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == saved);
  // More records than the table holds: too_large, like counts.
  check_refused(decode_state_file(file, StateFileLimits{16, 64, 1}), StateFileProblem::too_large);
  // A record the table would never write: the file is corrupt.
  core::SavedCounts bad = saved;
  bad.overrides[1].scope.key.clear();
  check_refused(decode_state_file(encode_state_file(bad), kRoomy), StateFileProblem::corrupt);
  // Format 2 without its records, or with bytes after them: corrupt.
  check_refused(decode_state_file(sealed(payload_of(saved), state_file_format), kRoomy),
                StateFileProblem::corrupt);
  check_refused(
      decode_state_file(sealed(payload_of(saved) + "\x90\x90", state_file_format), kRoomy),
      StateFileProblem::corrupt);
}

TEST_CASE("an empty store saves and loads") {
  const std::string file = encode_state_file(empty_store());
  const DecodedStateFile decoded = decode_state_file(file, StateFileLimits{0, 0});
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == empty_store());
}

TEST_CASE("a negative saved time and the largest values round trip") {
  core::SavedCounts saved = sample();
  saved.saved_unix_ms = std::numeric_limits<std::int64_t>::min();
  saved.saver.incarnation = std::numeric_limits<std::uint64_t>::max();
  saved.origins[0].node_id = std::string(64, 'x');
  saved.counts[0] = core::SlotUpdate{
      std::numeric_limits<std::uint64_t>::max(), std::numeric_limits<std::uint64_t>::max(),
      std::numeric_limits<std::uint64_t>::max(), 2, std::numeric_limits<std::uint32_t>::max()};
  const DecodedStateFile decoded = decode_state_file(encode_state_file(saved), kRoomy);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == saved);
}

TEST_CASE("files of format 1 are still read, and format 2 keeps its frozen bytes") {
  // DRL_UPDATE_GOLDEN is not offered: the frozen bytes of a format never change.
  const std::string sample_file = encode_state_file(sample_with_overrides());
  INFO("sample with overrides as written today:\n" << to_hex(sample_file));
  CHECK(sample_file == from_hex(kFrozenSampleWithOverrides));
  const DecodedStateFile v2 = decode_state_file(from_hex(kFrozenSampleWithOverrides), kRoomy);
  REQUIRE(v2.counts.has_value());
  CHECK(*v2.counts == sample_with_overrides());
  const DecodedStateFile decoded = decode_state_file(from_hex(kFrozenSample), kRoomy);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == sample());
  const DecodedStateFile empty = decode_state_file(from_hex(kFrozenEmptyStore), kRoomy);
  REQUIRE(empty.counts.has_value());
  CHECK(*empty.counts == empty_store());
}

TEST_CASE("every truncation of a state file is reported as truncated, never decoded") {
  for (const std::string& file : {encode_state_file(sample()), encode_state_file(empty_store())}) {
    for (std::size_t size = 0; size < file.size(); ++size) {
      CAPTURE(size);
      check_refused(decode_state_file(std::string_view(file).substr(0, size), kRoomy),
                    StateFileProblem::truncated);
    }
  }
}

TEST_CASE("a flipped byte anywhere in the payload is reported as corrupt") {
  const std::string file = encode_state_file(sample());
  for (std::size_t at = state_file_header_bytes; at < file.size(); ++at) {
    for (int mask : {0x01, 0x80, 0xff}) {
      CAPTURE(at);
      CAPTURE(mask);
      std::string damaged = file;
      damaged[at] = static_cast<char>(damaged[at] ^ mask);
      check_refused(decode_state_file(damaged, kRoomy), StateFileProblem::corrupt);
    }
  }
}

TEST_CASE("a flipped bit anywhere in the header is never decoded") {
  const std::string file = encode_state_file(sample());
  for (std::size_t at = 0; at < state_file_header_bytes; ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      CAPTURE(at);
      CAPTURE(bit);
      std::string damaged = file;
      damaged[at] = static_cast<char>(damaged[at] ^ (1 << bit));
      const DecodedStateFile decoded = decode_state_file(damaged, kRoomy);
      CHECK_FALSE(decoded.counts.has_value());
      if (at < 8) CHECK(decoded.problem == StateFileProblem::not_a_state_file);
      if (at >= 20) CHECK(decoded.problem == StateFileProblem::corrupt);
    }
  }
}

TEST_CASE("a payload length that disagrees with the file: shorter is truncated, longer corrupt") {
  const std::string file = encode_state_file(sample());
  check_refused(decode_state_file(file + '\0', kRoomy), StateFileProblem::corrupt);
  check_refused(decode_state_file(file + file, kRoomy), StateFileProblem::corrupt);
  std::string longer = file;
  longer[27 - 8] = static_cast<char>(longer[27 - 8] + 1);  // the length's last byte
  check_refused(decode_state_file(longer, kRoomy), StateFileProblem::truncated);
  std::string huge = file;
  for (std::size_t at = 12; at < 20; ++at) huge[at] = '\xff';
  check_refused(decode_state_file(huge, kRoomy), StateFileProblem::truncated);
}

TEST_CASE("a file that is not a state file is refused as not_a_state_file") {
  for (const std::string_view bytes :
       {std::string_view("[node]\nid = \"a\"\n"), std::string_view("DRLSTATF\0\0\0\1", 12),
        std::string_view("DRL\x01\x00\x00", 6), std::string_view("x"),
        std::string_view("drlstate and more bytes than a header holds")}) {
    CAPTURE(bytes);
    check_refused(decode_state_file(bytes, kRoomy), StateFileProblem::not_a_state_file);
  }
  // What is not there cannot be told from a cut: an empty file, part of the magic, the magic
  // and part of the header are a state file whose write stopped.
  for (const std::string_view bytes :
       {std::string_view(), std::string_view("DRL"), std::string_view("DRLSTATE"),
        std::string_view("DRLSTATE\0\0\0\1\0\0", 14)}) {
    CAPTURE(bytes.size());
    check_refused(decode_state_file(bytes, kRoomy), StateFileProblem::truncated);
  }
}

TEST_CASE("a file of a newer format is refused as newer_format") {
  const std::string payload_bytes = payload_of(sample());
  check_refused(decode_state_file(sealed(payload_bytes, state_file_format + 1), kRoomy),
                StateFileProblem::newer_format);
  check_refused(decode_state_file(sealed(payload_bytes, 0xffff'ffffU), kRoomy),
                StateFileProblem::newer_format);
  // Before anything after the format is read: a newer format may lay out the rest otherwise.
  std::string file = sealed("anything at all", state_file_format + 1);
  file.resize(state_file_header_bytes);
  check_refused(decode_state_file(file, kRoomy), StateFileProblem::newer_format);
}

TEST_CASE("format 0 is corrupt: no drld ever wrote it") {
  check_refused(decode_state_file(sealed(payload_of(sample()), 0), kRoomy),
                StateFileProblem::corrupt);
}

TEST_CASE("counts over the limits are refused as too_large") {
  const std::string file = encode_state_file(sample());  // 3 origins, 5 counts
  CHECK(decode_state_file(file, StateFileLimits{3, 5}).counts.has_value());
  const DecodedStateFile counts_over = decode_state_file(file, StateFileLimits{3, 4});
  check_refused(counts_over, StateFileProblem::too_large);
  CHECK(counts_over.detail == "5 counts, over the limit of 4");
  const DecodedStateFile origins_over = decode_state_file(file, StateFileLimits{2, 5});
  check_refused(origins_over, StateFileProblem::too_large);
  CHECK(origins_over.detail == "3 origins, over the limit of 2");
  check_refused(decode_state_file(file, StateFileLimits{0, 0}), StateFileProblem::too_large);
}

TEST_CASE("a list that declares more entries than its bytes could hold is corrupt") {
  // 2^32 - 1 counts declared in a few bytes: refused before anything is reserved for them,
  // whatever the limits.
  const std::string hostile = sealed(payload([](StringPacker& pk) {
    pk.pack_array(5);
    pack_str(pk, "node-a");
    pk.pack_uint64(1);
    pk.pack_int64(0);
    pk.pack_array(0);
    pk.pack_array(0xffff'ffffU);
  }));
  const StateFileLimits unlimited{std::numeric_limits<std::size_t>::max(),
                                  std::numeric_limits<std::size_t>::max()};
  check_refused(decode_state_file(hostile, unlimited), StateFileProblem::corrupt);
  const std::string origins = sealed(payload([](StringPacker& pk) {
    pk.pack_array(5);
    pack_str(pk, "node-a");
    pk.pack_uint64(1);
    pk.pack_int64(0);
    pk.pack_array(1000);
    for (int i = 0; i < 10; ++i) {
      pk.pack_array(2);
      pack_str(pk, "n");
      pk.pack_uint64(1);
    }
  }));
  check_refused(decode_state_file(origins, unlimited), StateFileProblem::corrupt);
}

TEST_CASE("an origin index out of range is corrupt") {
  const core::SavedCounts saved = sample();
  const auto with_origin_index = [&](std::uint64_t index) {
    return sealed(payload_of(saved, [&](StringPacker& pk, const core::SlotUpdate& count) {
      pk.pack_array(5);
      pk.pack_uint64(count.counter_id);
      pk.pack_uint64(count.window_ms);
      pk.pack_uint64(count.window_id);
      pk.pack_uint64(&count == &saved.counts.back() ? index : count.origin);
      pk.pack_uint64(count.count);
    }));
  };
  CHECK(decode_state_file(with_origin_index(2), kRoomy).counts.has_value());
  for (std::uint64_t index : {3ULL, 4ULL, 0x1'0000'0000ULL, ~0ULL}) {
    CAPTURE(index);
    const DecodedStateFile decoded = decode_state_file(with_origin_index(index), kRoomy);
    check_refused(decoded, StateFileProblem::corrupt);
    CHECK(decoded.detail.find("origin index") != std::string::npos);
  }
}

TEST_CASE("a count of 0, a window of 0 ms, a counter id of 0 or a count over 32 bits is corrupt") {
  const core::SavedCounts saved = sample();
  const auto with_field = [&](int field, std::uint64_t value) {
    return sealed(payload_of(saved, [&](StringPacker& pk, const core::SlotUpdate& count) {
      const bool target = &count == &saved.counts[1];
      const std::uint64_t fields[5] = {count.counter_id, count.window_ms, count.window_id,
                                       count.origin, count.count};
      pk.pack_array(5);
      for (int i = 0; i < 5; ++i) pk.pack_uint64(target && i == field ? value : fields[i]);
    }));
  };
  // (No structured bindings: clang 14 cannot capture them in doctest's CAPTURE.)
  struct Field {
    int index;
    std::uint64_t value;
  };
  for (const Field& field : {Field{4, 0}, Field{1, 0}, Field{0, 0}, Field{4, 0x1'0000'0000ULL}}) {
    CAPTURE(field.index);
    CAPTURE(field.value);
    check_refused(decode_state_file(with_field(field.index, field.value), kRoomy),
                  StateFileProblem::corrupt);
  }
  // A window id of 0 is a window like any other.
  CHECK(decode_state_file(with_field(2, 0), kRoomy).counts.has_value());
}

TEST_CASE("a node id that is empty or over 64 bytes is corrupt, and 64 bytes are fine") {
  for (const std::size_t bytes : {std::size_t{0}, std::size_t{65}, std::size_t{64}}) {
    CAPTURE(bytes);
    core::SavedCounts saver = sample();
    saver.saver.node_id = std::string(bytes, 'n');
    core::SavedCounts origin = sample();
    origin.origins[1].node_id = std::string(bytes, 'n');
    for (const core::SavedCounts& saved : {saver, origin}) {
      const DecodedStateFile decoded = decode_state_file(sealed(payload_of(saved)), kRoomy);
      if (bytes == 64) {
        REQUIRE(decoded.counts.has_value());
        CHECK(*decoded.counts == saved);
      } else {
        check_refused(decoded, StateFileProblem::corrupt);
      }
    }
  }
}

TEST_CASE("msgpack that is not the layout is corrupt") {
  const auto top = [](const std::function<void(StringPacker&)>& rest) {
    return payload([&](StringPacker& pk) {
      pk.pack_array(5);
      pack_str(pk, "node-a");
      pk.pack_uint64(1);
      pk.pack_int64(0);
      rest(pk);
    });
  };
  const auto empty_lists = [](StringPacker& pk) {
    pk.pack_array(0);
    pk.pack_array(0);
  };
  CHECK(decode_state_file(sealed(top(empty_lists)), kRoomy).counts.has_value());
  const std::vector<std::pair<std::string, std::string>> payloads = {
      {"an empty payload", ""},
      {"not msgpack", "\xc1"},
      {"a map", payload([](StringPacker& pk) { pk.pack_map(0); })},
      {"an integer", payload([](StringPacker& pk) { pk.pack_uint8(1); })},
      {"four fields", payload([](StringPacker& pk) {
         pk.pack_array(4);
         pack_str(pk, "node-a");
         pk.pack_uint64(1);
         pk.pack_int64(0);
         pk.pack_array(0);
       })},
      {"six fields", payload([&](StringPacker& pk) {
         pk.pack_array(6);
         pack_str(pk, "node-a");
         pk.pack_uint64(1);
         pk.pack_int64(0);
         empty_lists(pk);
         pk.pack_nil();
       })},
      {"the payload cut inside", top([](StringPacker& pk) { pk.pack_array(0); })},
      {"msgpack after the payload", top(empty_lists) + '\x00'},
      {"a node id that is bin", payload([&](StringPacker& pk) {
         pk.pack_array(5);
         pk.pack_bin(6);
         pk.pack_bin_body("node-a", 6);
         pk.pack_uint64(1);
         pk.pack_int64(0);
         empty_lists(pk);
       })},
      {"a negative incarnation", payload([&](StringPacker& pk) {
         pk.pack_array(5);
         pack_str(pk, "node-a");
         pk.pack_int64(-1);
         pk.pack_int64(0);
         empty_lists(pk);
       })},
      {"saved_unix_ms over int64", payload([&](StringPacker& pk) {
         pk.pack_array(5);
         pack_str(pk, "node-a");
         pk.pack_uint64(1);
         pk.pack_uint64(0x8000'0000'0000'0000ULL);
         empty_lists(pk);
       })},
      {"a float time", payload([&](StringPacker& pk) {
         pk.pack_array(5);
         pack_str(pk, "node-a");
         pk.pack_uint64(1);
         pk.pack_double(1.5);
         empty_lists(pk);
       })},
      {"origins that are a map", top([](StringPacker& pk) {
         pk.pack_map(0);
         pk.pack_array(0);
       })},
      {"origins that are an integer", top([](StringPacker& pk) {
         pk.pack_uint8(0);
         pk.pack_array(0);
       })},
      {"an origin that is a string", top([](StringPacker& pk) {
         pk.pack_array(1);
         pack_str(pk, "node-b");
         pk.pack_array(0);
       })},
      {"an origin of three fields", top([](StringPacker& pk) {
         pk.pack_array(1);
         pk.pack_array(3);
         pack_str(pk, "node-b");
         pk.pack_uint64(1);
         pk.pack_uint64(1);
         pk.pack_array(0);
       })},
      {"an origin whose fields are swapped", top([](StringPacker& pk) {
         pk.pack_array(1);
         pk.pack_array(2);
         pk.pack_uint64(1);
         pack_str(pk, "node-b");
         pk.pack_array(0);
       })},
      {"a count of four fields", top([](StringPacker& pk) {
         pk.pack_array(1);
         pk.pack_array(2);
         pack_str(pk, "node-b");
         pk.pack_uint64(1);
         pk.pack_array(1);
         pk.pack_array(4);
         for (int i = 0; i < 4; ++i) pk.pack_uint64(1);
       })},
      {"an array inside a count", top([](StringPacker& pk) {
         pk.pack_array(1);
         pk.pack_array(2);
         pack_str(pk, "node-b");
         pk.pack_uint64(1);
         pk.pack_array(1);
         pk.pack_array(5);
         for (int i = 0; i < 4; ++i) pk.pack_uint64(1);
         pk.pack_array(0);
       })},
      {"a count that names its origin", top([](StringPacker& pk) {
         pk.pack_array(1);
         pk.pack_array(2);
         pack_str(pk, "node-b");
         pk.pack_uint64(1);
         pk.pack_array(1);
         pk.pack_array(5);
         for (int i = 0; i < 3; ++i) pk.pack_uint64(1);
         pack_str(pk, "node-b");
         pk.pack_uint64(1);
       })},
  };
  for (const auto& payload_case : payloads) {
    CAPTURE(payload_case.first);
    check_refused(decode_state_file(sealed(payload_case.second), kRoomy),
                  StateFileProblem::corrupt);
  }
}

TEST_CASE("integers in any msgpack width are read by their value") {
  // Another writer may use wider or signed formats: the values are what count.
  const core::SavedCounts saved = sample();
  const std::string wide = payload([&](StringPacker& pk) {
    pk.pack_array(5);
    pack_str(pk, saved.saver.node_id);
    pk.pack_fix_uint64(saved.saver.incarnation);
    pk.pack_fix_int64(saved.saved_unix_ms);
    pk.pack_array(static_cast<std::uint32_t>(saved.origins.size()));
    for (const core::Origin& origin : saved.origins) {
      pk.pack_array(2);
      pack_str(pk, origin.node_id);
      pk.pack_fix_uint64(origin.incarnation);
    }
    pk.pack_array(static_cast<std::uint32_t>(saved.counts.size()));
    for (const core::SlotUpdate& count : saved.counts) {
      pk.pack_array(5);
      pk.pack_fix_int64(static_cast<std::int64_t>(count.counter_id & 0x7fff'ffff'ffff'ffffULL));
      pk.pack_fix_uint64(count.window_ms);
      pk.pack_fix_uint64(count.window_id);
      pk.pack_fix_int8(static_cast<std::int8_t>(count.origin));
      pk.pack_fix_uint32(count.count);
    }
  });
  const DecodedStateFile decoded = decode_state_file(sealed(wide), kRoomy);
  INFO(decoded.detail);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == saved);
}

TEST_CASE("the largest file within the limits is state_file_bytes_max bytes") {
  // Every field at its widest: 64-byte node ids, 64-bit values, more than 65535 entries (so
  // 32-bit array headers and origin indices).
  const StateFileLimits limits{65'537, 65'536};
  core::SavedCounts saved;
  saved.saver = core::Origin{std::string(64, 's'), std::numeric_limits<std::uint64_t>::max()};
  saved.saved_unix_ms = std::numeric_limits<std::int64_t>::min();
  saved.origins.assign(limits.origins_max, core::Origin{std::string(64, 'o'),
                                                        std::numeric_limits<std::uint64_t>::max()});
  constexpr std::uint64_t kWide = std::numeric_limits<std::uint64_t>::max();
  saved.counts.assign(limits.counts_max,
                      core::SlotUpdate{kWide, kWide, kWide, 65'536, 0xffff'ffffU});
  const std::string file = encode_state_file(saved);
  // Exact but for the override records' list, empty here: 1 byte of the 5 its header may take.
  CHECK(file.size() + 4 == state_file_bytes_max(limits));
  const DecodedStateFile decoded = decode_state_file(file, limits);
  REQUIRE(decoded.counts.has_value());
  CHECK(*decoded.counts == saved);
  check_refused(decode_state_file(file, StateFileLimits{limits.origins_max, limits.counts_max - 1}),
                StateFileProblem::too_large);
  // Limits no store has saturate rather than wrap.
  CHECK(state_file_bytes_max(StateFileLimits{std::numeric_limits<std::size_t>::max(), 1}) ==
        std::numeric_limits<std::size_t>::max());
}

TEST_CASE("every problem has its own name, as metrics and logs show it, and a description") {
  const std::vector<std::string_view> expected = {"not_a_state_file", "truncated", "corrupt",
                                                  "newer_format",     "too_large", "foreign",
                                                  "unreadable"};
  REQUIRE(expected.size() == state_file_problem_count);
  std::set<std::string_view> descriptions;
  for (std::size_t i = 0; i < state_file_problem_count; ++i) {
    const auto problem = static_cast<StateFileProblem>(i);
    CHECK(state_file_problem_name(problem) == expected[i]);
    descriptions.insert(state_file_problem_description(problem));
  }
  CHECK(descriptions.size() == state_file_problem_count);
}
