// Who besides drld can change (or read) a file drld trusts: the config file, a cluster key. A
// file that another user can write, or that sits under a directory another user can write to
// (and so rename another file over it), lets that user change what drld enforces. The answer is
// data; the caller decides what to log, count or refuse (docs/security.md, "Files and
// permissions").
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "drl/result.hpp"

namespace drl::io {

enum class PermissionProblem {
  writable_by_group,   // g+w; on a directory only without the sticky bit
  writable_by_others,  // o+w; on a directory only without the sticky bit
  readable_by_others,  // o+r, on the file itself, and only for a secret file
  untrusted_owner,     // owned by a user who is neither root nor the trusted user
};

std::string_view permission_problem_text(PermissionProblem problem);

// One path with at least one problem: the file, or a directory on the way to it.
struct PermissionFinding {
  std::string path;
  bool is_directory = false;
  std::uint32_t mode = 0;  // the permission bits, 07777
  uid_t owner = 0;
  std::vector<PermissionProblem> problems;

  bool has(PermissionProblem problem) const;
  // "(mode 0666, owner root) is writable by its group, writable by others": what follows the
  // path in a message.
  std::string details() const;
};

struct PermissionRules {
  uid_t trusted_uid = 0;  // may own the file and its directories, besides root
  bool secret = false;    // the contents are secret: report a file others can read
};

// Looks at `path` (symbolic links followed) and at every directory above it up to /, both on
// the path as given (made absolute) and on the path with its links resolved, each directory
// once. A directory with the sticky bit (such as /tmp) may be writable by others: they cannot
// rename over or remove a file they do not own there. An error if `path` cannot be examined
// (it does not exist, a directory on the way cannot be searched).
Result<std::vector<PermissionFinding>> check_file_permissions(const std::string& path,
                                                              const PermissionRules& rules);

// The directories above `path` only (for a file drld creates, such as its socket); an error if
// the parent cannot be examined.
Result<std::vector<PermissionFinding>> check_directory_permissions(const std::string& path,
                                                                   const PermissionRules& rules);

// The effective user of this process: whom drld trusts besides root.
uid_t effective_uid();

}  // namespace drl::io
