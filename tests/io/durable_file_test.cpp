// write_file_atomically and read_file_if_present on real files, in a fresh directory under
// $TMPDIR (or /tmp).
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "io/durable_file.hpp"
#include "scratch_dir.hpp"

using namespace drl::io;

namespace {

class Scratch : public testing::ScratchDir {
 public:
  Scratch() : ScratchDir("drl-durable") {}
};

}  // namespace

TEST_CASE("durable file: what is written atomically reads back whole, and replaces the old") {
  Scratch dir;
  const std::string path = dir / "counts";
  REQUIRE(write_file_atomically(path, "first").ok());
  REQUIRE(write_file_atomically(path, std::string("second\0with a NUL", 17)).ok());
  const auto read = read_file_if_present(path, 1024);
  REQUIRE(read.ok());
  REQUIRE(read.value().has_value());
  CHECK(*read.value() == std::string("second\0with a NUL", 17));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);  // counts are nobody else's business
}

TEST_CASE("durable file: a missing file reads as absent, not as an error") {
  Scratch dir;
  const auto read = read_file_if_present(dir / "none", 1024);
  REQUIRE(read.ok());
  CHECK_FALSE(read.value().has_value());
}

TEST_CASE("durable file: a file above the size bound is an error, not read") {
  Scratch dir;
  REQUIRE(write_file_atomically(dir / "big", std::string(2048, 'x')).ok());
  const auto read = read_file_if_present(dir / "big", 1024);
  CHECK_FALSE(read.ok());
}

TEST_CASE("durable file: a write that cannot happen leaves the old file as it was") {
  Scratch dir;
  const std::string path = dir / "counts";
  REQUIRE(write_file_atomically(path, "kept").ok());
  // The temporary name is taken by a directory: the write fails before any rename.
  std::filesystem::create_directory(path + ".tmp");
  CHECK_FALSE(write_file_atomically(path, "lost").ok());
  const auto read = read_file_if_present(path, 1024);
  REQUIRE(read.ok());
  CHECK(*read.value() == "kept");
}

TEST_CASE("durable file: ensure_directory creates a directory and refuses a file in its place") {
  Scratch dir;
  CHECK(ensure_directory(dir / "state").ok());
  CHECK(ensure_directory(dir / "state").ok());
  REQUIRE(write_file_atomically(dir / "plain", "x").ok());
  CHECK_FALSE(ensure_directory(dir / "plain").ok());
}

TEST_CASE("durable file: a symbolic link at the temporary name is replaced, not written through") {
  Scratch dir;
  const std::string path = dir / "counts";
  const std::string victim = dir / "victim";
  REQUIRE(write_file_atomically(victim, "untouched").ok());
  std::filesystem::create_symlink(victim, path + ".tmp");
  REQUIRE(write_file_atomically(path, "counts").ok());
  CHECK(*read_file_if_present(victim, 1024).value() == "untouched");
  CHECK_FALSE(std::filesystem::is_symlink(path));
  CHECK(*read_file_if_present(path, 1024).value() == "counts");
}

TEST_CASE("durable file: a file lock is held by one holder at a time, and freed with it") {
  Scratch dir;
  {
    auto first = FileLock::acquire(dir / "lock");
    REQUIRE(first.ok());
    auto second = FileLock::acquire(dir / "lock");
    REQUIRE_FALSE(second.ok());
    CHECK(second.error().message.find("locked by another process (pid ") != std::string::npos);
  }
  CHECK(FileLock::acquire(dir / "lock").ok());
}
