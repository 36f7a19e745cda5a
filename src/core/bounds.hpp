// Every bound of drl in one place. A bound that is hit is counted, never a crash.
// Values that operators may change are defaults for config keys; the rest are hard limits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace drl::bounds {

// Names and keys.
inline constexpr std::size_t key_bytes_max = 1024;
inline constexpr std::size_t policy_name_bytes_max = 64;
inline constexpr std::size_t tier_name_bytes_max = 64;
inline constexpr std::size_t endpoint_name_bytes_max = 256;

// Configuration.
inline constexpr std::size_t policies_max = 4096;
inline constexpr std::size_t limits_per_set_max = 8;
inline constexpr std::size_t tiers_per_policy_max = 64;
inline constexpr std::size_t endpoints_per_policy_max = 4096;
inline constexpr std::uint64_t limit_max = 0xffff'ffffULL;  // counts are 32-bit per origin
inline constexpr std::uint64_t window_ms_min = 1;
inline constexpr std::uint64_t window_ms_max = 366ULL * 24 * 3600 * 1000;  // 366 days
// Windows up to 31 days (drl's longest before 366) may be any number of milliseconds; longer
// ones are whole seconds, so that the store can keep every window in 32 bits (see
// core/counter_store.cpp) while those up to 31 days keep their old value everywhere.
inline constexpr std::uint64_t window_ms_any_max = 31ULL * 24 * 3600 * 1000;  // 31 days
inline constexpr std::uint64_t window_long_step_ms = 1000;
constexpr bool window_ms_valid(std::uint64_t ms) {
  return ms >= window_ms_min && ms <= window_ms_max &&
         (ms <= window_ms_any_max || ms % window_long_step_ms == 0);
}
inline constexpr std::uint64_t config_file_bytes_max = 16 * 1024 * 1024;

// One check: its items, and the limits they resolve to.
inline constexpr std::size_t items_per_check_max = 8;
// A policy-wide set plus an endpoint set per item.
inline constexpr std::size_t limits_per_item_max = 2 * limits_per_set_max;
inline constexpr std::size_t limits_per_check_max = 32;
static_assert(limits_per_check_max >= limits_per_item_max,
              "a single item must always fit in one check");

// Counter store.
inline constexpr std::size_t store_keys_default = 1'000'000;
inline constexpr std::size_t store_keys_min = 1;
inline constexpr std::size_t store_keys_max = 1ULL << 32;
inline constexpr std::size_t store_shards_default = 64;
inline constexpr std::size_t store_shards_max = 4096;  // a power of two
// Extra origin slots (beyond the inline one) per tracked key, on average, before updates from
// new origins are dropped and counted.
inline constexpr std::size_t store_extra_origin_slots_per_key = 4;
// Evicted keys whose totals a shard remembers, so that one checked or merged again within its
// windows does not start from zero: one 24-byte record per this many keys of the shard's bound,
// in pairs, at least one pair per shard. Allocated when the shard first evicts a live key.
inline constexpr std::size_t store_keys_per_evicted_floor = 8;

// Client protocol.
inline constexpr std::size_t frame_header_bytes = 4;
inline constexpr std::size_t frame_bytes_default = 64 * 1024;
inline constexpr std::size_t frame_bytes_min = 4096;
inline constexpr std::size_t frame_bytes_max = 16 * 1024 * 1024;
inline constexpr std::size_t batch_checks_default = 1024;
inline constexpr std::size_t batch_checks_max = 65536;
inline constexpr std::size_t request_map_entries_max = 64;
static_assert(frame_bytes_default >= frame_bytes_min && frame_bytes_default <= frame_bytes_max);
static_assert(frame_bytes_min > key_bytes_max, "a frame must fit the largest key");

// Daemon.
inline constexpr std::size_t connections_default = 1024;
inline constexpr std::size_t connections_max = 1'000'000;
inline constexpr std::size_t connection_output_bytes_default = 1024 * 1024;
inline constexpr std::size_t workers_max = 64;

// HTTP endpoint ([http]). Idle and slow connections cost memory, not threads: a few hundred
// bytes each plus what their unfinished request holds, within the bounds below.
inline constexpr std::size_t http_threads_default = 2;
inline constexpr std::size_t http_connections_default = 8192;
inline constexpr std::size_t http_request_head_bytes_max = 16 * 1024;  // request line and headers
inline constexpr std::size_t http_request_headers_max = 100;
inline constexpr std::size_t http_request_body_bytes_max = 64 * 1024;  // read and ignored
inline constexpr std::size_t http_read_buffer_bytes = 64 * 1024;       // one per HTTP thread
inline constexpr std::uint64_t http_idle_timeout_ms_default = 75'000;
inline constexpr std::uint64_t http_request_timeout_ms_default = 10'000;

}  // namespace drl::bounds
