// Every bound of drl in one place. A bound that is hit is counted, never a crash.
// Values that operators may change are defaults for config keys; the rest are hard limits.
#pragma once

#include <cstddef>
#include <cstdint>

namespace drl::bounds {

// Names and keys.
inline constexpr std::size_t key_bytes_max = 1024;
// A key named by an override or a reset: it travels with the record in one datagram.
inline constexpr std::size_t override_key_bytes_max = 256;
// Records one `drl key reset` writes: its scope's, and one per other endpoint the key counted in.
inline constexpr std::size_t key_reset_records_max = 64;
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

// The cluster: a node id ([node] id, and in every datagram), a peer's address as datagrams
// carry it, and the size of a datagram ([cluster] datagram_bytes).
inline constexpr std::size_t node_id_bytes_max = 64;
inline constexpr std::size_t peer_address_bytes_max = 128;
inline constexpr std::size_t datagram_bytes_default = 1400;
inline constexpr std::size_t datagram_bytes_min = 512;
inline constexpr std::size_t datagram_bytes_max = 65'000;
// Senders whose replay windows a node remembers (per sender id and destination): forged ids
// cannot grow memory without end; the oldest window makes room, counted.
inline constexpr std::size_t replay_windows_max = 4096;
// [cluster] seeds: names resolved at start and then periodically, each to at most this many
// addresses.
inline constexpr std::size_t cluster_seeds_max = 64;
inline constexpr std::size_t seed_addresses_max = 256;
// Datagrams a node forwards for its peers (relays around one-way cuts) per second: one out for
// one in, never more, and this many at most, so that no sender can make a node a pump. Well
// above what relaying for a few cut peers takes (a delta round, a heartbeat and acks).
inline constexpr std::size_t relay_datagrams_per_second_max = 20'000;
// Peers waiting for a full sync that one repair round serves: each costs a walk of the store's
// tables, whatever it collects, so the walks per round stay bounded when many wait at once (a
// cold start, a partition's heal). Each node starts its turns at an offset of its own, so that
// together the nodes serve every waiting peer in the first round. A store that holds no key is
// not walked: then every waiting peer gets its sync (one empty last slice) in the round.
inline constexpr std::size_t full_syncs_per_repair_round_max = 16;
// Owner dissemination (docs/replication.md, "Key owners"): the owners of each key, which hold
// its per-origin counts and tell the others' total to the nodes that count it; the member count
// from which dissemination = "auto" uses owners rather than the full mesh; the points each member
// takes on the hash ring (more points, a more even share of the keys); the keys an owner keeps
// to forward at once, the rest left to the next count's forward (counted).
inline constexpr std::size_t owners_per_key = 2;
inline constexpr std::size_t owners_from_members = 32;
inline constexpr std::size_t owners_until_members = 28;  // "auto" back to the mesh below this
inline constexpr std::size_t owner_ring_points_per_member = 64;
inline constexpr std::size_t owner_forward_keys_max = 65'536;
// A key's first check on a node may wait for its owners' totals ([cluster] totals_wait_max) up
// to this long; the keys asked for within totals_wait_max (core/totals_requests.hpp): a first
// check of another key is decided without its totals (counted).
inline constexpr std::uint64_t totals_wait_max_ms = 1000;
inline constexpr std::uint64_t totals_wait_default_ms = 25;
inline constexpr std::size_t totals_wants_max = 4096;
// Hard limits (core/rights_ledger.hpp): the (counter, window) entries of grants a node keeps, the
// requests for rights waiting to go out, and the records of one rights message (at most 54
// bytes each: four and the longest header fit the smallest datagram, cluster_codec_test.cpp).
inline constexpr std::size_t rights_entries_max = 65'536;
inline constexpr std::size_t rights_wants_max = 4096;
inline constexpr std::size_t rights_records_per_message_max = 4;
// A check of a hard limit short of rights may wait for a grant (a policy's rights_wait_max) up
// to this long, and at most this many checks wait at a time on a node (each holds a thread that
// answers checks; the others are denied at once).
inline constexpr std::uint64_t rights_wait_max_ms = 100;
inline constexpr std::size_t rights_waiters_max = 64;
// Peer addresses whose resolution a node keeps; when full the cache starts again.
inline constexpr std::size_t resolved_addresses_max = 4096;
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

// Envoy's rate limit service ([envoy], src/envoy). A request beyond a bound is answered with
// INVALID_ARGUMENT and counted (one over rls_request_bytes_max with RESOURCE_EXHAUSTED, by gRPC
// itself, before drl sees it); Envoy then does what its failure_mode_deny says.
inline constexpr std::size_t rls_request_bytes_max = 64 * 1024;  // a protobuf RateLimitRequest
inline constexpr std::size_t rls_descriptors_per_request_max = 64;
inline constexpr std::size_t rls_entries_per_descriptor_max = 16;
inline constexpr std::size_t rls_domain_bytes_max = 256;
// A key or a value of a descriptor entry (Envoy's values are paths, user agents, IPs ...). The
// counter key of a longer descriptor is a digest of it (src/envoy/rls_policies.cpp).
inline constexpr std::size_t rls_entry_bytes_max = 1024;
static_assert(rls_descriptors_per_request_max * rls_entries_per_descriptor_max * 2 *
                      rls_entry_bytes_max <=
                  32 * rls_request_bytes_max,
              "the bounds of a request's parts are within reach of its byte bound");
// Envoy multiplexes its calls over a few HTTP/2 connections; more streams than this on one
// connection wait in the client until others finish.
inline constexpr std::size_t rls_streams_per_connection_max = 1024;
// How long a stop lets calls in flight finish before it cancels them.
inline constexpr std::uint64_t rls_shutdown_grace_ms = 1000;
// Threads of the gRPC server, each polling its own completion queue and deciding the calls it
// takes; and the calls each can have taken at once (more wait in gRPC until one is answered).
inline constexpr std::size_t rls_server_threads_default = 1;
inline constexpr std::size_t rls_server_threads_max = 64;
inline constexpr std::size_t rls_calls_per_thread = 128;
// Health checks (grpc.health.v1.Health/Check) each thread can have taken at once.
inline constexpr std::size_t health_checks_per_thread = 4;

// The YAML files of envoyproxy/ratelimit ([envoy] config_dir), and what the decisions count.
// Descriptors of one request that a limit applies to: they are decided as one compound check.
inline constexpr std::size_t envoy_limited_descriptors_max = items_per_check_max;
inline constexpr std::size_t envoy_config_files_max = 1024;
// Descriptor entries with a limit, over all files: each is a policy (about 1 KiB each).
inline constexpr std::size_t envoy_config_limits_max = 20'000;
// YAML nodes visited per file: aliases can make a small file expand into a large tree.
inline constexpr std::size_t envoy_config_nodes_visited_max = 500'000;
// Deeper descriptors could only match requests with more entries than are allowed.
inline constexpr std::size_t envoy_config_depth_max = rls_entries_per_descriptor_max;
// Metrics: domains with their own counters (the rest share one), and detailed_metric series.
inline constexpr std::size_t envoy_domains_metered_max = 1024;
inline constexpr std::size_t envoy_detailed_series_max = 4096;
inline constexpr std::size_t envoy_detailed_series_name_bytes_max = 256;

}  // namespace drl::bounds
