#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "core/check_engine.hpp"

using namespace drl::core;
using drl::Errc;

namespace {

const char* const kHard = R"(
[[policy]]
name = "sms"
limit = 10
window = "1m"
enforcement = "hard"
)";

constexpr std::int64_t kWindowStartMs = 1'800'000'000'000;  // a whole number of minutes

// One node of a cluster of `members`, at `rank`, deciding hard limits on its own store.
class Node {
 public:
  Node(std::uint32_t members, std::uint32_t rank, std::int64_t rights_from_ms = 0)
      : store_(StoreOptions{1000, 4}), engine_(store_, 0) {
    rights_.set_split(RightsSplit{members, rank, rights_from_ms});
    engine_.set_rights(&rights_);
    auto parsed = drl::config::parse_config(kHard, "test");
    REQUIRE(parsed.ok());
    policies_ = parsed->policies;
  }

  const CheckOutcome& check(std::string_view key, std::uint64_t cost = 1) {
    const CheckItem item{"sms", key, "", "", cost};
    engine_.check(*policies_, now_, std::span(&item, 1), outcome_);
    REQUIRE(outcome_.error == Errc::ok);
    return outcome_;
  }

  int admit(int n, std::string_view key) {
    int allowed = 0;
    for (int i = 0; i < n; ++i) allowed += check(key).allowed ? 1 : 0;
    return allowed;
  }

  // What another origin counted of the last key checked, as gossip would bring it.
  void merge_from_peer(std::uint32_t count) {
    const std::uint64_t id = outcome_.limits[0].counter_id;
    auto locked = store_.lock(std::span(&id, 1));
    locked.merge(id, 60'000, now_, 1, static_cast<std::uint64_t>(now_.unix_ms) / 60'000, count);
  }

  void advance_ms(std::int64_t ms) { now_.unix_ms += ms; }

 private:
  CounterStore store_;
  RightsLedger rights_;
  CheckEngine engine_;
  std::shared_ptr<const PolicySet> policies_;
  WallTime now_{kWindowStartMs};
  CheckOutcome outcome_;
};

}  // namespace

TEST_CASE("hard limit: a node admits its share of each window, the first ranks one more") {
  // 10 over 3 members: 4, 3, 3.
  Node first(3, 0), second(3, 1), third(3, 2);
  CHECK(first.admit(20, "tenant") == 4);
  CHECK(second.admit(20, "tenant") == 3);
  CHECK(third.admit(20, "tenant") == 3);
}

TEST_CASE("hard limit: other nodes' counts neither deny nor extend a node's own rights") {
  Node node(2, 0);
  node.check("tenant", 0);
  node.merge_from_peer(50);  // far above the limit: the peer's business
  CHECK(node.admit(10, "tenant") == 5);
}

TEST_CASE("hard limit: a denial says how much is left here and waits for the next window") {
  Node node(2, 0);
  node.advance_ms(15'000);
  CHECK(node.admit(5, "tenant") == 5);
  const CheckOutcome& denied = node.check("tenant");
  CHECK_FALSE(denied.allowed);
  const LimitOutcome& limit = denied.binding_limit();
  CHECK(limit.rights == 5);
  CHECK(limit.own_count == 5);
  CHECK(limit.limit == 10);  // the cluster's limit, as answers show it
  CHECK(limit.verdict.remaining == 0);
  CHECK(limit.verdict.retry_after_ms == 45'000);
  node.advance_ms(45'000);
  CHECK(node.admit(6, "tenant") == 5);
}

TEST_CASE("hard limit: a cost the node's share cannot cover is denied, not split") {
  Node node(4, 3);  // 10 over 4: ranks 0 and 1 get 3, ranks 2 and 3 get 2
  CHECK_FALSE(node.check("tenant", 3).allowed);
  CHECK(node.check("tenant", 2).allowed);
}

TEST_CASE(
    "hard limit: a node that starts has no rights until a window begins after its start "
    "plus the clock skew") {
  // Started 20 s into the window, with a skew of 50 s allowed: rights from the window after next.
  Node node(1, 0, kWindowStartMs + 70'000);
  node.advance_ms(20'000);
  const CheckOutcome& denied = node.check("tenant");
  CHECK_FALSE(denied.allowed);
  CHECK(denied.binding_limit().verdict.retry_after_ms == 100'000);
  node.advance_ms(40'000);
  CHECK(node.admit(3, "tenant") == 0);
  node.advance_ms(60'000);
  CHECK(node.admit(20, "tenant") == 10);
}

TEST_CASE(
    "hard limit: a check denied for want of rights may wait for a grant when its policy says "
    "so and a request is on its way, never otherwise") {
  const char* const waiting = R"(
[[policy]]
name = "sms"
limit = 10
window = "1m"
enforcement = "hard"
rights_wait_max = "5ms"
)";
  auto parsed = drl::config::parse_config(waiting, "test");
  REQUIRE(parsed.ok());
  CounterStore store(StoreOptions{1000, 4});
  RightsLedger rights(RightsSplit{2, 0, 0});
  CheckEngine engine(store, 0);
  engine.set_rights(&rights);
  CheckOutcome outcome;
  const CheckItem item{"sms", "tenant", "", "", 1};
  const WallTime now{kWindowStartMs};
  for (int i = 0; i < 5; ++i) {
    engine.check(*parsed->policies, now, std::span(&item, 1), outcome);
    CHECK(outcome.allowed);
    CHECK(outcome.rights_wait_ms == 0);
  }
  engine.check(*parsed->policies, now, std::span(&item, 1), outcome);
  CHECK_FALSE(outcome.allowed);
  CHECK(outcome.denied_without_rights);
  CHECK(outcome.rights_wait_ms == 5);
  // The other member had nothing to spare: no request goes out, so nothing to wait for.
  const RightsKey key{outcome.limits[0].counter_id, 60'000,
                      static_cast<std::uint64_t>(kWindowStartMs / 60'000)};
  rights.take_wants(16);
  rights.answered(key, 1, 0, 2);
  engine.check(*parsed->policies, now, std::span(&item, 1), outcome);
  CHECK(outcome.denied_without_rights);
  CHECK(outcome.rights_wait_ms == 0);
}
