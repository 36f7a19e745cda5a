// check_file_permissions on real files: which modes, owners and directories let another user
// change (or read) a file drld trusts, and which do not. Each case works in a fresh directory
// under $TMPDIR (or /tmp); findings about directories above it (the machine's own) are left out
// of the checks, except where a case is about them.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/file_permissions.hpp"
#include "scratch_dir.hpp"

using namespace drl::io;

namespace {

// The scratch directory, and files and directories with exact modes in it.
class Scratch : public testing::ScratchDir {
 public:
  Scratch() : ScratchDir("drl-permissions") {}

  // A file with `mode` exactly (whatever the umask).
  std::string file(const std::string& name, mode_t mode) const {
    const std::string path = *this / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "x\n", 2) == 2);
    ::close(fd);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path;
  }

  std::string directory(const std::string& name, mode_t mode) const {
    const std::string path = *this / name;
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path;
  }
};

PermissionRules rules(bool secret = false) {
  PermissionRules rules;
  rules.trusted_uid = ::geteuid();
  rules.secret = secret;
  return rules;
}

// The findings inside the scratch directory (itself included).
std::vector<PermissionFinding> findings_within(const Scratch& scratch, const std::string& path,
                                               const PermissionRules& rules) {
  auto checked = check_file_permissions(path, rules);
  REQUIRE_MESSAGE(checked.ok(), checked.error().message);
  std::vector<PermissionFinding> within;
  for (PermissionFinding& finding : checked.value()) {
    if (finding.path.rfind(scratch.path(), 0) == 0) within.push_back(std::move(finding));
  }
  return within;
}

std::string listed(const std::vector<PermissionFinding>& findings) {
  std::string text;
  for (const PermissionFinding& finding : findings)
    text += finding.path + " " + finding.details() + "\n";
  return text;
}

}  // namespace

TEST_CASE("file permissions: a 0600 or 0644 file in a 0700 directory has no problem") {
  const Scratch scratch;
  for (const mode_t mode : {0600, 0644, 0640, 0400}) {
    const std::string path = scratch.file("drld.toml", mode);
    const auto findings = findings_within(scratch, path, rules());
    CAPTURE(mode);
    CHECK_MESSAGE(findings.empty(), listed(findings));
  }
}

TEST_CASE(
    "file permissions: a 0666 file is writable by its group and by others, said with its mode") {
  const Scratch scratch;
  const std::string path = scratch.file("drld.toml", 0666);
  const auto findings = findings_within(scratch, path, rules());
  REQUIRE_MESSAGE(findings.size() == 1, listed(findings));
  const PermissionFinding& file = findings.front();
  CHECK(file.path == path);
  CHECK_FALSE(file.is_directory);
  CHECK(file.mode == 0666);
  CHECK(file.has(PermissionProblem::writable_by_group));
  CHECK(file.has(PermissionProblem::writable_by_others));
  CHECK_FALSE(file.has(PermissionProblem::readable_by_others));  // not a secret
  CHECK_FALSE(file.has(PermissionProblem::untrusted_owner));
  CHECK(file.details().find("mode 0666") != std::string::npos);
  CHECK(file.details().find("writable by its group, writable by others") != std::string::npos);
}

TEST_CASE("file permissions: group write alone is a problem; other write alone too") {
  const Scratch scratch;
  const auto group = findings_within(scratch, scratch.file("group.toml", 0620), rules());
  REQUIRE(group.size() == 1);
  CHECK(group.front().problems == std::vector{PermissionProblem::writable_by_group});
  const auto others = findings_within(scratch, scratch.file("others.toml", 0602), rules());
  REQUIRE(others.size() == 1);
  CHECK(others.front().problems == std::vector{PermissionProblem::writable_by_others});
}

TEST_CASE(
    "file permissions: a secret readable by others is reported, one readable by its group is not") {
  const Scratch scratch;
  const auto world = findings_within(scratch, scratch.file("world.key", 0644), rules(true));
  REQUIRE_MESSAGE(world.size() == 1, listed(world));
  CHECK(world.front().problems == std::vector{PermissionProblem::readable_by_others});
  CHECK(world.front().details().find("(mode 0644, owner ") == 0);
  CHECK(world.front().details().find("readable by others") != std::string::npos);

  const auto group = findings_within(scratch, scratch.file("group.key", 0640), rules(true));
  CHECK_MESSAGE(group.empty(), listed(group));
  const auto owner = findings_within(scratch, scratch.file("owner.key", 0600), rules(true));
  CHECK_MESSAGE(owner.empty(), listed(owner));
}

TEST_CASE("file permissions: a file owned by neither root nor the trusted user is reported") {
  const Scratch scratch;
  const std::string path = scratch.file("drld.toml", 0644);
  PermissionRules other = rules();
  if (::geteuid() == 0) {
    // Root owns every file it makes, and root is always trusted: give the file away.
    REQUIRE(::chown(path.c_str(), 65534, static_cast<gid_t>(-1)) == 0);
  } else {
    other.trusted_uid = ::geteuid() + 1;  // the file's owner is then not trusted
  }
  const auto findings = findings_within(scratch, path, other);
  // Not root, the scratch directory is the untrusted user's too: look at the file's finding.
  REQUIRE_MESSAGE(!findings.empty(), listed(findings));
  CHECK(findings.front().path == path);
  CHECK(findings.front().problems == std::vector{PermissionProblem::untrusted_owner});
  CHECK(findings.front().details().find("uid ") != std::string::npos);

  if (::geteuid() == 0) {
    PermissionRules owner_trusted = rules();
    owner_trusted.trusted_uid = 65534;  // drld running as that user
    const auto trusted = findings_within(scratch, path, owner_trusted);
    CHECK_MESSAGE(trusted.empty(), listed(trusted));
  }
}

TEST_CASE(
    "file permissions: a directory others or its group can write lets them replace a 0600 file; "
    "with the sticky bit it does not") {
  const Scratch scratch;
  const std::string open = scratch.directory("open", 0777);
  const auto findings = findings_within(scratch, scratch.file("open/drld.toml", 0600), rules());
  REQUIRE_MESSAGE(findings.size() == 1, listed(findings));
  CHECK(findings.front().path == open);
  CHECK(findings.front().is_directory);
  CHECK(findings.front().has(PermissionProblem::writable_by_group));
  CHECK(findings.front().has(PermissionProblem::writable_by_others));

  scratch.directory("group", 0770);
  const auto group = findings_within(scratch, scratch.file("group/drld.toml", 0600), rules());
  REQUIRE_MESSAGE(group.size() == 1, listed(group));
  CHECK(group.front().problems == std::vector{PermissionProblem::writable_by_group});

  scratch.directory("sticky", 01777);  // as /tmp
  const auto sticky = findings_within(scratch, scratch.file("sticky/drld.toml", 0600), rules());
  CHECK_MESSAGE(sticky.empty(), listed(sticky));
}

TEST_CASE("file permissions: every directory up to the file is looked at, not only its parent") {
  const Scratch scratch;
  scratch.directory("a", 0777);
  scratch.directory("a/b", 0755);
  scratch.directory("a/b/c", 0700);
  const auto findings = findings_within(scratch, scratch.file("a/b/c/drld.toml", 0600), rules());
  REQUIRE_MESSAGE(findings.size() == 1, listed(findings));
  CHECK(findings.front().path == scratch.path() + "/a");
}

TEST_CASE(
    "file permissions: through a symbolic link, the directories of the file it points to are "
    "looked at too") {
  const Scratch scratch;
  const std::string open = scratch.directory("open", 0777);
  const std::string target = scratch.file("open/drld.toml", 0600);
  scratch.directory("safe", 0755);
  const std::string link = scratch.path() + "/safe/drld.toml";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  const auto findings = findings_within(scratch, link, rules());
  REQUIRE_MESSAGE(findings.size() == 1, listed(findings));
  CHECK(findings.front().path == open);

  // A link to a directory: the directory it points to is looked at (through the link).
  const std::string linked_directory = scratch.path() + "/safe/linked";
  REQUIRE(::symlink(open.c_str(), linked_directory.c_str()) == 0);
  const auto through = findings_within(scratch, linked_directory + "/drld.toml", rules());
  REQUIRE_MESSAGE(through.size() == 1, listed(through));
  CHECK(through.front().is_directory);
  CHECK(through.front().has(PermissionProblem::writable_by_others));
}

TEST_CASE("file permissions: a relative path is looked at from the working directory up") {
  const Scratch scratch;
  scratch.directory("open", 0777);
  scratch.file("open/drld.toml", 0600);
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(scratch.path());
  auto checked = check_file_permissions("open/drld.toml", rules());
  std::filesystem::current_path(before);
  REQUIRE_MESSAGE(checked.ok(), checked.error().message);
  bool open_found = false;
  for (const PermissionFinding& finding : checked.value()) {
    if (finding.path == scratch.path() + "/open") open_found = true;
  }
  CHECK_MESSAGE(open_found, listed(checked.value()));
}

TEST_CASE("file permissions: a missing file is an error naming it") {
  const Scratch scratch;
  const std::string path = scratch.path() + "/missing.key";
  const auto checked = check_file_permissions(path, rules(true));
  REQUIRE_FALSE(checked.ok());
  CHECK(checked.error().message.find(path) != std::string::npos);
  CHECK(checked.error().message.find("No such file") != std::string::npos);
}

TEST_CASE("directory permissions: the directories above a path that need not exist yet") {
  const Scratch scratch;
  const std::string open = scratch.directory("open", 0777);
  auto checked = check_directory_permissions(open + "/drld.sock", rules());
  REQUIRE_MESSAGE(checked.ok(), checked.error().message);
  bool open_found = false;
  for (const PermissionFinding& finding : checked.value()) {
    if (finding.path == open) open_found = finding.has(PermissionProblem::writable_by_others);
  }
  CHECK_MESSAGE(open_found, listed(checked.value()));
}
