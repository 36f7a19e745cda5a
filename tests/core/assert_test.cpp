// DRL_ASSERT: a broken invariant stops the process with what broke and where, in every build;
// and the store's lock discipline is one of the invariants it holds.
#include "core/assert.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <string>

#include "core/counter_store.hpp"
#include "core/peer_table.hpp"

namespace {

struct Death {
  bool aborted = false;
  std::string stderr_text;
};

// Runs `body` in a child process with stderr into a pipe; how it ended and what it wrote.
Death run_in_child(const std::function<void()>& body) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGABRT, SIG_DFL);  // doctest's crash report is the parent's business, not ours
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    body();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  Death death;
  char buffer[512];
  ssize_t got = 0;
  while ((got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    death.stderr_text.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  death.aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  return death;
}

}  // namespace

TEST_CASE("assert: a holding invariant costs nothing; a broken one aborts, saying what and where") {
  const Death fine = run_in_child([] { DRL_ASSERT(1 + 1 == 2, "arithmetic"); });
  CHECK_FALSE(fine.aborted);
  CHECK(fine.stderr_text.empty());

  const Death broken = run_in_child([] { DRL_ASSERT(1 + 1 == 3, "arithmetic"); });
  CHECK(broken.aborted);
  CHECK(broken.stderr_text.find("drl: invariant broken: arithmetic (1 + 1 == 3) at ") == 0);
  CHECK(broken.stderr_text.find("assert_test.cpp:") != std::string::npos);
}

TEST_CASE("assert: a store view that touches a shard it did not lock aborts") {
  drl::core::StoreOptions options;
  options.shards = 2;  // ids below 2^63 in shard 0, the others in shard 1
  drl::core::CounterStore store(options);
  const std::uint64_t in_first = 1;
  const std::uint64_t in_second = (std::uint64_t{1} << 63) + 1;
  const drl::core::WallTime now{1'800'000'000'000};

  const Death locked = run_in_child([&] {
    const std::uint64_t ids[] = {in_first};
    auto view = store.lock(ids);
    (void)view.view(in_first, 1000, now);
  });
  CHECK_FALSE(locked.aborted);

  const Death unlocked = run_in_child([&] {
    const std::uint64_t ids[] = {in_first};
    auto view = store.lock(ids);
    (void)view.view(in_second, 1000, now);
  });
  CHECK(unlocked.aborted);
  CHECK(unlocked.stderr_text.find("a Locked view touches only the shards it locked") !=
        std::string::npos);
}

TEST_CASE(
    "assert: a second peer at one address, or erasing a peer the table does not hold, aborts") {
  const Death moved_onto_another = run_in_child([] {
    drl::core::PeerTable table(4);
    table.add("a:1", false, drl::core::MonoTime{});
    drl::core::Peer* b = table.add("b:1", false, drl::core::MonoTime{});
    table.move_to(*b, "a:1");
  });
  CHECK(moved_onto_another.aborted);
  CHECK(moved_onto_another.stderr_text.find("one peer per address") != std::string::npos);

  const Death foreign = run_in_child([] {
    drl::core::PeerTable table(4);
    drl::core::Peer stranger;
    table.erase(stranger);
  });
  CHECK(foreign.aborted);
  CHECK(foreign.stderr_text.find("a peer erased is in the table") != std::string::npos);
}
