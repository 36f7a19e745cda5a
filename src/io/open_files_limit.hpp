// The process's limit on open file descriptors, which bounds client connections before
// max_connections does when it is set low (1024 is a common soft limit, also under systemd).
#pragma once

#include <cstdint>

namespace drl::io {

// Raises the soft RLIMIT_NOFILE to the hard limit, as far as the kernel allows, and returns the
// soft limit in force afterwards (0 if it cannot be read).
std::uint64_t raise_open_files_limit();

}  // namespace drl::io
