// Where a key's slot for one origin lives in a counter store shard's pool of extra slots, for
// keys with many origins (a large cluster). A key's extra slots form a chain; walking it costs
// one memory access per origin, once per merged count, which made a 30-node simulation spend
// three quarters of its time there. Keys with a short chain are not indexed: walking a few
// slots is cheaper than the index's 16 bytes per slot (docs/operations.md, "Memory of a
// cluster").
//
// Open addressing with linear probing and backward-shift deletion (no tombstones), at most
// three quarters full; cells hold pool indices, never pointers, so the pool may grow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace drl::core {

class OriginSlotIndex {
 public:
  // Index + 1 of the slot of (`id`, `origin`), 0 if it is not indexed.
  std::uint32_t find(std::uint64_t id, std::uint32_t origin) const {
    if (cells_.empty()) return 0;
    for (std::size_t at = home(id, origin);; at = (at + 1) & mask()) {
      const Cell& cell = cells_[at];
      if (cell.slot == 0) return 0;
      if (cell.id == id && cell.origin == origin) return cell.slot;
    }
  }
  // Records where (`id`, `origin`) lives: `slot`, index + 1 (not 0). It must not be indexed yet.
  void insert(std::uint64_t id, std::uint32_t origin, std::uint32_t slot);
  // Forgets (`id`, `origin`), which must be indexed.
  void erase(std::uint64_t id, std::uint32_t origin);

  std::size_t size() const { return used_; }
  std::size_t memory_bytes() const { return cells_.capacity() * sizeof(Cell); }

 private:
  struct Cell {
    std::uint64_t id = 0;
    std::uint32_t origin = 0;
    std::uint32_t slot = 0;  // 0: empty
  };
  static_assert(sizeof(Cell) == 16);

  std::size_t mask() const { return cells_.size() - 1; }
  std::size_t home(std::uint64_t id, std::uint32_t origin) const {
    std::uint64_t mixed = id ^ (static_cast<std::uint64_t>(origin) * 0x9e3779b97f4a7c15ULL);
    mixed = (mixed ^ (mixed >> 31)) * 0xbf58476d1ce4e5b9ULL;
    return static_cast<std::size_t>(mixed ^ (mixed >> 29)) & mask();
  }
  void place(const Cell& cell);
  void grow();

  std::vector<Cell> cells_;  // empty, or a power of two long
  std::size_t used_ = 0;
};

}  // namespace drl::core
