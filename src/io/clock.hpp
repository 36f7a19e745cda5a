// The real clocks. Only the io layer and tools read them; the core is given the time.
#pragma once

#include "core/time.hpp"

namespace drl::io {

core::WallTime wall_now();
core::MonoTime mono_now();

}  // namespace drl::io
