// The Lua scripts of the Redis baselines, embedded at build time from config/bench/*.lua.
#pragma once

namespace drl::bench {

extern const char* const fixed_window_script;    // config/bench/fixed_window.lua
extern const char* const sliding_window_script;  // config/bench/sliding_window.lua

}  // namespace drl::bench
