#include "core/origin_slot_index.hpp"

#include <utility>

#include "core/assert.hpp"

namespace drl::core {

void OriginSlotIndex::place(const Cell& cell) {
  std::size_t at = home(cell.id, cell.origin);
  while (cells_[at].slot != 0) at = (at + 1) & mask();
  cells_[at] = cell;
}

void OriginSlotIndex::grow() {
  std::vector<Cell> old = std::move(cells_);
  cells_.assign(old.empty() ? 64 : old.size() * 2, Cell{});
  for (const Cell& cell : old) {
    if (cell.slot != 0) place(cell);
  }
}

void OriginSlotIndex::insert(std::uint64_t id, std::uint32_t origin, std::uint32_t slot) {
  DRL_ASSERT(slot != 0, "an indexed slot is a pool index + 1");
  DRL_ASSERT(find(id, origin) == 0, "one slot per key and origin");
  if ((used_ + 1) * 4 > cells_.size() * 3) grow();
  place(Cell{id, origin, slot});
  ++used_;
}

void OriginSlotIndex::erase(std::uint64_t id, std::uint32_t origin) {
  DRL_ASSERT(!cells_.empty(), "a slot erased from the index is in it");
  std::size_t at = home(id, origin);
  while (!(cells_[at].id == id && cells_[at].origin == origin)) {
    DRL_ASSERT(cells_[at].slot != 0, "a slot erased from the index is in it");
    at = (at + 1) & mask();
  }
  // Backward shift: each later cell of the run moves into the hole if its home allows it.
  std::size_t hole = at;
  for (std::size_t next = (hole + 1) & mask(); cells_[next].slot != 0; next = (next + 1) & mask()) {
    const std::size_t want = home(cells_[next].id, cells_[next].origin);
    // `next` may move to `hole` unless its home lies cyclically in (hole, next].
    const bool stays = hole <= next ? (want > hole && want <= next) : (want > hole || want <= next);
    if (stays) continue;
    cells_[hole] = cells_[next];
    hole = next;
  }
  cells_[hole] = Cell{};
  --used_;
}

}  // namespace drl::core
