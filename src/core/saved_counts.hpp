// A node's counts as saved in its state directory, and how they go back into a store at start
// (docs/operations.md, "State directory").
//
// Every count keeps the origin that made it, (node id, incarnation), as in gossip: restored
// counts of this node's earlier runs belong to those runs' origins, never to the new
// incarnation, so peers that hold the same counts merge them as the same G-counter slots (a
// maximum, not a sum) and nothing is counted twice. Counts of windows that ended while the node
// was down are dropped on restore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/counter_store.hpp"
#include "core/origin_table.hpp"
#include "core/override_table.hpp"
#include "core/time.hpp"

namespace drl::core {

struct SavedCounts {
  Origin saver;  // the node and run that saved
  std::int64_t saved_unix_ms = 0;
  std::vector<Origin> origins;  // SlotUpdate::origin below indexes this list
  std::vector<SlotUpdate> counts;
  // The override table's records, tombstones included: a key reset must outlive a restart with
  // the counts it forgets, or the restart would bring them back.
  std::vector<OverrideRecord> overrides;
  bool operator==(const SavedCounts&) const = default;
};

// The most counts a store can hold: every slot of every key, two windows each. A saved file
// with more is not this store's (or not whole).
std::size_t saved_counts_max(const CounterStore& store);

// Every nonzero count of every origin in windows still in use at `now`. Takes each shard's lock
// for a bounded number of table slots at a time (as anti-entropy does), so checks wait at most
// that long. A count whose origin was retired meanwhile is left out.
SavedCounts snapshot_counts(CounterStore& store, const OriginTable& origins, WallTime now);
// The same into `out`, reusing its memory: a saver that keeps two snapshots does not allocate
// (and fault in) tens of megabytes at every save of a large store.
void snapshot_counts(CounterStore& store, const OriginTable& origins, WallTime now,
                     SavedCounts& out);

struct RestoreOutcome {
  std::uint64_t restored = 0;  // counts merged into the store
  std::uint64_t ended = 0;     // counts of windows over at `wall` (dropped)
  std::uint64_t dropped = 0;   // no room: origin table or store full, or not a valid record
  std::uint64_t origins = 0;   // origins the restored counts belong to
  // Keys evicted to make room while restoring: the file holds more keys than the store (a
  // smaller max_keys than the saver's). The lightest go, and their floors stay while room lasts,
  // as in a key flood.
  std::uint64_t keys_evicted = 0;
};

// Merges `saved` into `store` (a G-counter merge: restoring twice, or counts a peer also sends,
// change nothing more). Counts that claim the running incarnation are dropped: no file can know
// it, it is new at every start.
RestoreOutcome restore_counts(CounterStore& store, OriginTable& origins, const SavedCounts& saved,
                              MonoTime now, WallTime wall, std::int64_t retire_after_ms);

}  // namespace drl::core
