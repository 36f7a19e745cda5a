#include "io/file_permissions.hpp"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

namespace drl::io {
namespace {

Error cannot_examine(const std::string& path, int error_number) {
  return Error{Errc::io_error,
               path + ": cannot examine its permissions: " + std::strerror(error_number)};
}

std::string octal_mode(std::uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// "root", "alice (uid 1000)", or "uid 1000" for a number no user has.
std::string owner_text(uid_t uid) {
  if (uid == 0) return "root";
  passwd entry{};
  passwd* found = nullptr;
  char buffer[1024];
  const std::string number = "uid " + std::to_string(uid);
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr) {
    return number;
  }
  return std::string(found->pw_name) + " (" + number + ")";
}

std::string absolute(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

// "/a/b/c" -> "/a/b", "/a", "/" (nearest first). Empty for a relative path.
std::vector<std::string> directories_above(std::string path) {
  std::vector<std::string> directories;
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  while (path.size() > 1) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) break;
    path = slash == 0 ? "/" : path.substr(0, slash);
    directories.push_back(path);
  }
  return directories;
}

PermissionFinding examine(const std::string& path, const struct stat& info, bool is_directory,
                          const PermissionRules& rules) {
  PermissionFinding finding;
  finding.path = path;
  finding.is_directory = is_directory;
  finding.mode = static_cast<std::uint32_t>(info.st_mode & 07777);
  finding.owner = info.st_uid;
  // In a sticky directory only a file's owner (or the directory's, or root) may rename over it
  // or remove it: writable by others is how /tmp is meant to be.
  const bool writes_matter = !is_directory || (info.st_mode & S_ISVTX) == 0;
  if (writes_matter && (info.st_mode & S_IWGRP) != 0) {
    finding.problems.push_back(PermissionProblem::writable_by_group);
  }
  if (writes_matter && (info.st_mode & S_IWOTH) != 0) {
    finding.problems.push_back(PermissionProblem::writable_by_others);
  }
  if (!is_directory && rules.secret && (info.st_mode & S_IROTH) != 0) {
    finding.problems.push_back(PermissionProblem::readable_by_others);
  }
  if (info.st_uid != 0 && info.st_uid != rules.trusted_uid) {
    finding.problems.push_back(PermissionProblem::untrusted_owner);
  }
  return finding;
}

std::string resolved(const std::string& path) {
  char text[PATH_MAX];
  return ::realpath(path.c_str(), text) != nullptr ? std::string(text) : std::string();
}

// Each directory of `directories` once (the same directory may be reached by several names).
Result<Done> check_directories(const std::vector<std::string>& directories,
                               const PermissionRules& rules,
                               std::vector<PermissionFinding>& findings) {
  std::set<std::pair<dev_t, ino_t>> seen;
  for (const std::string& directory : directories) {
    struct stat info {};
    if (::stat(directory.c_str(), &info) != 0) return cannot_examine(directory, errno);
    if (!seen.insert({info.st_dev, info.st_ino}).second) continue;
    PermissionFinding finding = examine(directory, info, true, rules);
    if (!finding.problems.empty()) findings.push_back(std::move(finding));
  }
  return Done{};
}

}  // namespace

std::string_view permission_problem_text(PermissionProblem problem) {
  switch (problem) {
    case PermissionProblem::writable_by_group:
      return "writable by its group";
    case PermissionProblem::writable_by_others:
      return "writable by others";
    case PermissionProblem::readable_by_others:
      return "readable by others";
    case PermissionProblem::untrusted_owner:
      return "owned by a user who is neither root nor drld's user";
  }
  return "?";
}

bool PermissionFinding::has(PermissionProblem problem) const {
  for (const PermissionProblem found : problems) {
    if (found == problem) return true;
  }
  return false;
}

std::string PermissionFinding::details() const {
  std::string text = "(mode " + octal_mode(mode) + ", owner " + owner_text(owner) + ") is ";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) text += ", ";
    text += permission_problem_text(problems[i]);
  }
  return text;
}

Result<std::vector<PermissionFinding>> check_file_permissions(const std::string& path,
                                                              const PermissionRules& rules) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return cannot_examine(path, errno);
  std::vector<PermissionFinding> findings;
  PermissionFinding file = examine(path, info, false, rules);
  if (!file.problems.empty()) findings.push_back(std::move(file));
  // The directories on the path as given, then those the file really is in once its links
  // (and those of the directories above it) are resolved.
  std::vector<std::string> directories = directories_above(absolute(path));
  for (std::string& directory : directories_above(resolved(path))) {
    directories.push_back(std::move(directory));
  }
  Result<Done> checked = check_directories(directories, rules, findings);
  if (!checked.ok()) return checked.error();
  return findings;
}

Result<std::vector<PermissionFinding>> check_directory_permissions(const std::string& path,
                                                                   const PermissionRules& rules) {
  std::vector<PermissionFinding> findings;
  std::vector<std::string> directories = directories_above(absolute(path));
  if (!directories.empty()) {
    const std::string parent = resolved(directories.front());
    if (!parent.empty()) directories.push_back(parent);
    for (std::string& directory : directories_above(parent)) {
      directories.push_back(std::move(directory));
    }
  }
  Result<Done> checked = check_directories(directories, rules, findings);
  if (!checked.ok()) return checked.error();
  return findings;
}

uid_t effective_uid() {
  return ::geteuid();
}

}  // namespace drl::io
