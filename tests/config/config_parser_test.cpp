#include <doctest/doctest.h>

#include <string>

#include "config/config.hpp"
#include "core/counter_id.hpp"

using drl::config::parse_config;

namespace {

// The error message for `toml`, which must be rejected.
std::string rejection(const std::string& toml) {
  const auto parsed = parse_config(toml, "drld.toml");
  REQUIRE_FALSE(parsed.ok());
  return parsed.error().message;
}

const std::string kPolicy = "[[policy]]\nname = \"api\"\nlimit = 10\nwindow = \"1m\"\n";

}  // namespace

TEST_CASE("config: the fixed-surface example from the brief is accepted") {
  const auto parsed = parse_config(R"(
[node]
id = "a"
socket = "/run/drl/drld.sock"

[[policy]]
name = "api"
limit = 100
window = "1m"
algorithm = "sliding"
)",
                                   "drld.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->node.id == "a");
  CHECK(parsed->node.socket_path == "/run/drl/drld.sock");
  const auto* policy = parsed->policies->find("api");
  REQUIRE(policy != nullptr);
  REQUIRE(policy->defaults.rules.size() == 1);
  CHECK(policy->defaults.rules[0].limit == 100);
  CHECK(policy->defaults.rules[0].window_ms == 60'000);
}

TEST_CASE("config: defaults apply to everything not set") {
  const auto parsed = parse_config(kPolicy, "drld.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->node.id.empty());
  CHECK(parsed->node.socket_path == "/run/drl/drld.sock");
  CHECK(parsed->node.socket_mode == 0660);
  CHECK(parsed->node.workers == 0);
  CHECK(parsed->node.watch_config);
  CHECK(parsed->bounds.max_keys == 1'000'000);
  CHECK(parsed->bounds.store_shards == 64);
  CHECK(parsed->bounds.max_connections == 1024);
  CHECK(parsed->bounds.max_request_bytes == 65536);
  const auto* policy = parsed->policies->find("api");
  CHECK(policy->defaults.rules[0].algorithm == drl::core::Algorithm::sliding);
  CHECK_FALSE(policy->shadow);
}

TEST_CASE("config: socket_mode accepts a TOML octal integer or an octal string") {
  auto parsed = parse_config("[node]\nsocket_mode = 0o600\n" + kPolicy, "drld.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->node.socket_mode == 0600);
  parsed = parse_config("[node]\nsocket_mode = \"0640\"\n" + kPolicy, "drld.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->node.socket_mode == 0640);
}

TEST_CASE("config: tiers and endpoints inherit the policy's single window") {
  const auto parsed = parse_config(kPolicy + R"(
[policy.tiers.pro]
limit = 100
[policy.endpoints."POST /login"]
limit = 3
algorithm = "fixed"
)",
                                   "drld.toml");
  REQUIRE(parsed.ok());
  const auto* policy = parsed->policies->find("api");
  CHECK(policy->tiers.at("pro").rules[0].window_ms == 60'000);
  CHECK(policy->endpoints.at("POST /login").defaults.rules[0].window_ms == 60'000);
  CHECK(policy->endpoints.at("POST /login").defaults.rules[0].algorithm ==
        drl::core::Algorithm::fixed);
}

TEST_CASE("config: windows up to 366 days are accepted, 1y being 365 days") {
  const auto parsed = parse_config(R"(
[[policy]]
name = "api"
limits = [{ limit = 1000, window = "1y" }, { limit = 100, window = "31d" },
          { limit = 2000, window = "366d" }, { limit = 50, window = "40d12h30m15s" }]
[policy.endpoints."POST /export"]
limit = 10
window = "365d"
[policy.tiers.pro]
limits = [{ limit = 5000, window = "1y" }]
)",
                                   "drld.toml");
  REQUIRE_MESSAGE(parsed.ok(), (parsed.ok() ? "" : parsed.error().message));
  const auto* policy = parsed->policies->find("api");
  REQUIRE(policy->defaults.rules.size() == 4);
  constexpr std::uint64_t kDayMs = 86'400'000;
  CHECK(policy->defaults.rules[0].window_ms == 365 * kDayMs);
  CHECK(policy->defaults.rules[1].window_ms == 31 * kDayMs);
  CHECK(policy->defaults.rules[2].window_ms == 366 * kDayMs);
  CHECK(policy->defaults.rules[3].window_ms == 40 * kDayMs + 45'015'000);
  CHECK(policy->endpoints.at("POST /export").defaults.rules[0].window_ms == 365 * kDayMs);
  CHECK(policy->tiers.at("pro").rules[0].window_ms == 365 * kDayMs);
  // "1y" and "365d" are one window: the tier shares the policy-wide counter.
  CHECK(policy->tiers.at("pro").rules[0].counter_seed == policy->defaults.rules[0].counter_seed);
  CHECK(policy->defaults.rules[0].counter_seed ==
        drl::core::counter_seed("api", "", 31'536'000'000ULL));
}

TEST_CASE("config: a table's algorithm applies to all its limits and to its tiers") {
  const auto parsed = parse_config(R"(
[[policy]]
name = "api"
limit = 10
window = "1m"
[policy.tiers.pro]
algorithm = "fixed"
limits = [{ limit = 5, window = "1s" }, { limit = 50, window = "1m", algorithm = "sliding" }]
[policy.endpoints."/x"]
algorithm = "fixed"
limit = 3
[policy.endpoints."/x".tiers.pro]
limit = 30
)",
                                   "drld.toml");
  REQUIRE(parsed.ok());
  const auto* policy = parsed->policies->find("api");
  using drl::core::Algorithm;
  CHECK(policy->defaults.rules[0].algorithm == Algorithm::sliding);
  CHECK(policy->tiers.at("pro").rules[0].algorithm == Algorithm::fixed);
  CHECK(policy->tiers.at("pro").rules[1].algorithm == Algorithm::sliding);
  CHECK(policy->endpoints.at("/x").defaults.rules[0].algorithm == Algorithm::fixed);
  CHECK(policy->endpoints.at("/x").tiers.at("pro").rules[0].algorithm == Algorithm::fixed);
}

TEST_CASE("config: every rejection names the file, the line and the problem") {
  struct Case {
    const char* name;
    std::string toml;
    const char* expected;
  };
  const Case cases[] = {
      {"TOML syntax", "[[policy]\nname=1", "drld.toml:1:"},
      {"no policy", "[node]\nid = \"a\"\n", "no policy"},
      {"unknown top-level key", "colour = 1\n" + kPolicy, "unknown key 'colour' in the top level"},
      {"unknown node key", "[node]\nsockett = \"x\"\n" + kPolicy,
       "unknown key 'sockett' in [node]"},
      {"node not a table", "node = 1\n" + kPolicy, "[node] must be a table"},
      {"empty socket", "[node]\nsocket = \"\"\n" + kPolicy, "socket must not be empty"},
      {"long socket", "[node]\nsocket = \"/" + std::string(120, 's') + "\"\n" + kPolicy,
       "longer than 107 bytes"},
      {"socket_mode not octal", "[node]\nsocket_mode = \"rw\"\n" + kPolicy, "socket_mode"},
      {"socket_mode too big", "[node]\nsocket_mode = 0o1777\n" + kPolicy, "socket_mode"},
      {"workers too many", "[node]\nworkers = 1000\n" + kPolicy,
       "workers must be between 0 and 64"},
      {"bad log level", "[node]\nlog_level = \"loud\"\n" + kPolicy, "log_level"},
      {"watch_config not bool", "[node]\nwatch_config = 1\n" + kPolicy, "true or false"},
      {"node id chars", "[node]\nid = \"a b\"\n" + kPolicy, "node id 'a b' may only use"},
      {"max_keys zero", "[bounds]\nmax_keys = 0\n" + kPolicy, "max_keys must be between"},
      {"shards not power of two", "[bounds]\nstore_shards = 3\n" + kPolicy, "power of two"},
      {"request bytes too small", "[bounds]\nmax_request_bytes = 100\n" + kPolicy,
       "max_request_bytes must be between"},
      {"unknown bounds key", "[bounds]\nkeys = 1\n" + kPolicy, "unknown key 'keys' in [bounds]"},
      {"policy not array", "[policy]\nname = \"a\"\n", "write [[policy]]"},
      {"policy without name", "[[policy]]\nlimit = 1\nwindow = \"1s\"\n", "name is missing"},
      {"policy name not string", "[[policy]]\nname = 3\nlimit = 1\nwindow = \"1s\"\n",
       "name must be a string"},
      {"policy name chars", "[[policy]]\nname = \"a/b\"\nlimit = 1\nwindow = \"1s\"\n",
       "policy name 'a/b' may only use"},
      {"policy name empty", "[[policy]]\nname = \"\"\nlimit = 1\nwindow = \"1s\"\n",
       "policy name must not be empty"},
      {"duplicate policy", kPolicy + kPolicy, "policy 'api' is defined twice"},
      {"unknown policy key", kPolicy + "limt = 5\n", "unknown key 'limt' in policy 'api'"},
      {"missing limit", "[[policy]]\nname = \"a\"\nwindow = \"1s\"\n",
       "policy 'a': limit is missing"},
      {"missing window", "[[policy]]\nname = \"a\"\nlimit = 1\n", "policy 'a': window is missing"},
      {"no limit at all", "[[policy]]\nname = \"a\"\n", "no limit"},
      {"limit zero", "[[policy]]\nname = \"a\"\nlimit = 0\nwindow = \"1s\"\n",
       "limit must be between 1 and 4294967295, not 0"},
      {"limit negative", "[[policy]]\nname = \"a\"\nlimit = -3\nwindow = \"1s\"\n",
       "limit must be between"},
      {"limit too large", "[[policy]]\nname = \"a\"\nlimit = 4294967296\nwindow = \"1s\"\n",
       "limit must be between"},
      {"limit not integer", "[[policy]]\nname = \"a\"\nlimit = \"10\"\nwindow = \"1s\"\n",
       "limit must be an integer"},
      {"bad window", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"abc\"\n",
       "window 'abc' is not a duration"},
      {"window not string", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = 60\n",
       "window must be a string"},
      {"window zero", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"0s\"\n",
       "window must be between 1ms and 366d, not 0s"},
      {"window too long", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"367d\"\n",
       "window must be between 1ms and 366d, not 367d"},
      {"window a ms over a year", "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"366d1ms\"\n",
       "window must be between 1ms and 366d, not 366d1ms"},
      {"long window in limits",
       "[[policy]]\nname = \"a\"\nlimits = [{ limit = 1, window = \"1y2d\" }]\n",
       "limits[0]: window must be between 1ms and 366d, not 1y2d"},
      {"long window not whole seconds",
       "[[policy]]\nname = \"a\"\nlimit = 1\nwindow = \"40d1ms\"\n",
       "a window longer than 31d must be whole seconds, not 40d1ms"},
      {"bad algorithm", kPolicy + "algorithm = \"leaky\"\n",
       "algorithm must be \"sliding\" or \"fixed\""},
      {"shadow not bool", kPolicy + "shadow = \"yes\"\n", "shadow must be true or false"},
      {"both forms", kPolicy + "limits = [{ limit = 1, window = \"1s\" }]\n", "not both"},
      {"limits empty", "[[policy]]\nname = \"a\"\nlimits = []\n", "non-empty array"},
      {"limits element not table", "[[policy]]\nname = \"a\"\nlimits = [1]\n",
       "limits[0] must be a table"},
      {"limits element without window", "[[policy]]\nname = \"a\"\nlimits = [{ limit = 1 }]\n",
       "limits[0]: window is missing"},
      {"limits element unknown key",
       "[[policy]]\nname = \"a\"\nlimits = [{ limit = 1, window = \"1s\", burst = 2 }]\n",
       "unknown key 'burst'"},
      {"duplicate window",
       "[[policy]]\nname = \"a\"\nlimits = [{ limit = 1, window = \"1s\" }, { limit = 2, window = "
       "\"1000ms\" }]\n",
       "two limits with the same window 1s"},
      {"too many limits",
       "[[policy]]\nname = \"a\"\nlimits = [" +
           [] {
             std::string list;
             for (int i = 1; i <= 9; ++i) {
               list += (i > 1 ? ", " : "") + std::string("{ limit = 1, window = \"") +
                       std::to_string(i) + "s\" }";
             }
             return list;
           }() +
           "]\n",
       "at most 8 limits"},
      {"tier name chars", kPolicy + "[policy.tiers.\"free tier\"]\nlimit = 1\n",
       "tier name 'free tier' may only use"},
      {"tier unknown key", kPolicy + "[policy.tiers.pro]\nlimit = 1\nprice = 9\n",
       "unknown key 'price' in policy 'api' tier 'pro'"},
      {"tier without window, policy has two limits",
       "[[policy]]\nname = \"a\"\nlimits = [{ limit = 1, window = \"1s\" }, { limit = 9, window = "
       "\"1m\" }]\n[policy.tiers.pro]\nlimit = 5\n",
       "tier 'pro': window is missing"},
      {"tiers not a table", kPolicy + "tiers = 3\n", "tiers must be a table"},
      {"endpoint control character", kPolicy + "[policy.endpoints.\"a\\tb\"]\nlimit = 1\n",
       "control characters"},
      {"endpoint unknown key", kPolicy + "[policy.endpoints.\"/x\"]\nlimit = 1\nmethod = \"GET\"\n",
       "unknown key 'method' in policy 'api' endpoint '/x'"},
      {"endpoint tier bad limit",
       kPolicy +
           "[policy.endpoints.\"/x\"]\nlimit = 1\n[policy.endpoints.\"/x\".tiers.pro]\nlimit = 0\n",
       "policy 'api' endpoint '/x' tier 'pro': limit must be between"},
      {"cluster without bind", "[cluster]\npeers = []\n" + kPolicy, "[cluster]: bind is missing"},
      {"cluster bad bind", "[cluster]\nbind = \"localhost\"\n" + kPolicy,
       "bind 'localhost' must be host:port"},
      {"cluster bad port", "[cluster]\nbind = \"127.0.0.1:70000\"\n" + kPolicy,
       "must be host:port"},
      {"cluster v6 without brackets", "[cluster]\nbind = \"::1:7001\"\n" + kPolicy,
       "must be host:port"},
      {"cluster peers not list", "[cluster]\nbind = \"127.0.0.1:1\"\npeers = \"a:1\"\n" + kPolicy,
       "peers must be an array"},
      {"cluster bad peer", "[cluster]\nbind = \"127.0.0.1:1\"\npeers = [\"a\"]\n" + kPolicy,
       "peer 'a' must be host:port"},
      {"cluster bad interval",
       "[cluster]\nbind = \"127.0.0.1:1\"\ngossip_interval = \"fast\"\n" + kPolicy,
       "gossip_interval must be a duration"},
      {"cluster interval too long",
       "[cluster]\nbind = \"127.0.0.1:1\"\ngossip_interval = \"1m\"\n" + kPolicy,
       "gossip_interval must be between 1ms and 10s"},
      {"cluster suspect before heartbeat",
       "[cluster]\nbind = \"127.0.0.1:1\"\nheartbeat_interval = \"2s\"\nsuspect_after = \"1s\"\n" +
           kPolicy,
       "suspect_after must be longer than heartbeat_interval"},
      {"cluster bad policy",
       "[cluster]\nbind = \"127.0.0.1:1\"\npartition_policy = \"pessimistic\"\n" + kPolicy,
       "partition_policy must be"},
      {"cluster bad dissemination",
       "[cluster]\nbind = \"127.0.0.1:1\"\ndissemination = \"gossip\"\n" + kPolicy,
       "dissemination must be \"auto\", \"mesh\" or \"owners\""},
      {"cluster totals wait too long",
       "[cluster]\nbind = \"127.0.0.1:1\"\ntotals_wait_max = \"2s\"\n" + kPolicy,
       "totals_wait_max must be between 0ms and 1s"},
      {"cluster previous key alone",
       "[cluster]\nbind = \"127.0.0.1:1\"\nprevious_key_file = \"/k\"\n" + kPolicy,
       "previous_key_file needs key_file"},
      {"cluster unknown key", "[cluster]\nbind = \"127.0.0.1:1\"\nfanout = 3\n" + kPolicy,
       "unknown key 'fanout' in [cluster]"},
      {"http without listen", kPolicy + "[http]\nthreads = 4\n", "[http]: listen is missing"},
      {"http remote without consent", kPolicy + "[http]\nlisten = \"0.0.0.0:8080\"\n",
       "is not a loopback address; set allow_remote = true"},
      {"http bad source", kPolicy + "[policy.http]\nkey = \"cookie:session\"\n",
       "'cookie:session' is not a source"},
      {"http unknown key", kPolicy + "[policy.http]\nuser = \"query:u\"\n",
       "unknown key 'user' in policy 'api' [http]"},
      {"envoy without listen", kPolicy + "[envoy]\nconfig_dir = \"/etc/drl/ratelimit\"\n",
       "[envoy]: listen is missing"},
      {"envoy without config_dir", kPolicy + "[envoy]\nlisten = \"127.0.0.1:8081\"\n",
       "[envoy]: config_dir is missing"},
      {"envoy remote without consent",
       kPolicy + "[envoy]\nlisten = \"0.0.0.0:8081\"\nconfig_dir = \"/etc/r\"\n",
       "is not a loopback address; set allow_remote = true"},
      {"envoy bad response headers",
       kPolicy +
           "[envoy]\nlisten = \"127.0.0.1:8081\"\nconfig_dir = \"/etc/r\"\nresponse_headers = "
           "\"all\"\n",
       "response_headers must be"},
      {"envoy bad algorithm",
       kPolicy + "[envoy]\nlisten = \"127.0.0.1:8081\"\nconfig_dir = \"/r\"\nalgorithm = \"lru\"\n",
       "[envoy]: algorithm must be"},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    const std::string message = rejection(c.toml);
    CAPTURE(message);
    CHECK(message.rfind("drld.toml:", 0) == 0);
    CHECK(message.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("config: [cluster] from the brief's example is accepted, with defaults for the rest") {
  const auto parsed = parse_config(R"(
[node]
id = "a"
[cluster]
bind = "127.0.0.1:7001"
peers = ["127.0.0.1:7002", "127.0.0.1:7003", "[::1]:7004"]
gossip_interval = "5ms"
)" + kPolicy,
                                   "drld.toml");
  REQUIRE(parsed.ok());
  const auto& cluster = parsed->cluster;
  CHECK(cluster.enabled);
  CHECK(cluster.bind == "127.0.0.1:7001");
  CHECK(cluster.peers.size() == 3);
  CHECK(cluster.gossip_interval_ms == 5);
  CHECK(cluster.heartbeat_interval_ms == 200);
  CHECK(cluster.partition_policy == drl::core::PartitionPolicy::optimistic);
  CHECK(cluster.dissemination == drl::core::Dissemination::automatic);
  CHECK(cluster.key_file.empty());
  const auto owners = parse_config(
      "[cluster]\nbind = \"127.0.0.1:7001\"\ndissemination = \"owners\"\n" + kPolicy, "o");
  REQUIRE(owners.ok());
  CHECK(owners->cluster.dissemination == drl::core::Dissemination::owners);
  CHECK(cluster.totals_wait_max_ms == 25);
  const auto waits = parse_config(
      "[cluster]\nbind = \"127.0.0.1:7001\"\ntotals_wait_max = \"0s\"\n" + kPolicy, "w");
  REQUIRE(waits.ok());
  CHECK(waits->cluster.totals_wait_max_ms == 0);
  CHECK_FALSE(parse_config(kPolicy, "x")->cluster.enabled);
}

TEST_CASE(
    "config: [cluster] seeds are host:port strings, resolved again every 30 s unless "
    "seeds_resolve_interval says otherwise (0: at start only), and restart-only") {
  const std::string cluster = "[cluster]\nbind = \"127.0.0.1:7001\"\n";
  const auto plain = parse_config(cluster + kPolicy, "a");
  const auto seeded = parse_config(
      cluster + "seeds = [\"drl.default.svc:7001\", \"10.0.0.9:7001\"]\n" + kPolicy, "b");
  const auto once = parse_config(
      cluster + "seeds = [\"drl:7001\"]\nseeds_resolve_interval = \"0s\"\n" + kPolicy, "c");
  REQUIRE(plain.ok());
  REQUIRE(seeded.ok());
  REQUIRE(once.ok());
  CHECK(plain->cluster.seeds.empty());
  CHECK(seeded->cluster.seeds == std::vector<std::string>{"drl.default.svc:7001", "10.0.0.9:7001"});
  CHECK(seeded->cluster.seeds_resolve_interval_ms == 30'000);
  CHECK(once->cluster.seeds_resolve_interval_ms == 0);
  CHECK(drl::config::restart_only_changes(plain.value(), seeded.value()) == "cluster.seeds");
  CHECK(rejection(cluster + "seeds = \"drl:7001\"\n" + kPolicy).find("seeds must be an array") !=
        std::string::npos);
  CHECK(rejection(cluster + "seeds = [\"drl\"]\n" + kPolicy).find("seed 'drl' must be host:port") !=
        std::string::npos);
  CHECK(rejection(cluster + "seeds = [\"d:1\"]\nseeds_resolve_interval = \"10ms\"\n" + kPolicy)
            .find("seeds_resolve_interval must be 0") != std::string::npos);
  std::string many = "seeds = [";
  for (int i = 0; i < 65; ++i)
    many += std::string(i == 0 ? "" : ", ") + "\"s" + std::to_string(i) + ":1\"";
  CHECK(rejection(cluster + many + "]\n" + kPolicy).find("at most 64 seeds") != std::string::npos);
}

TEST_CASE(
    "config: [cluster] allow_readable_key_file is off unless set, a boolean, and restart-only") {
  const std::string cluster = "[cluster]\nbind = \"127.0.0.1:7001\"\nkey_file = \"/k\"\n";
  const auto off = parse_config(cluster + kPolicy, "a");
  const auto on = parse_config(cluster + "allow_readable_key_file = true\n" + kPolicy, "b");
  REQUIRE(off.ok());
  REQUIRE(on.ok());
  CHECK_FALSE(off->cluster.allow_readable_key_file);
  CHECK(on->cluster.allow_readable_key_file);
  CHECK(drl::config::restart_only_changes(off.value(), on.value()) == "cluster keys");
  CHECK(rejection(cluster + "allow_readable_key_file = \"yes\"\n" + kPolicy)
            .find("allow_readable_key_file") != std::string::npos);
}

TEST_CASE("config: a rejection points at the line of the offending value") {
  const std::string message =
      rejection(kPolicy + "\n[[policy]]\nname = \"b\"\nlimit = 1\nwindow = \"2y\"\n");
  CHECK(message.find("drld.toml:9:") == 0);
}

TEST_CASE("config: a missing file is reported with its path") {
  const auto loaded = drl::config::load_config_file("/nonexistent/drld.toml");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message.find("/nonexistent/drld.toml") != std::string::npos);
}

TEST_CASE("config: a directory given as the config file is named as a directory") {
  const auto loaded = drl::config::load_config_file("/tmp");
  REQUIRE_FALSE(loaded.ok());
  CHECK(loaded.error().message ==
        "/tmp: a directory, not a config file (name the TOML file, "
        "e.g. /etc/drl/drld.toml)");
}

TEST_CASE("config: restart-only changes are listed by name") {
  const auto before = parse_config(kPolicy, "a");
  const auto after =
      parse_config("[node]\nsocket = \"/tmp/x.sock\"\n[bounds]\nmax_keys = 5\n" + kPolicy, "b");
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  CHECK(drl::config::restart_only_changes(before.value(), after.value()) ==
        "node.socket, bounds.max_keys");
  CHECK(drl::config::restart_only_changes(before.value(), before.value()).empty());
}

TEST_CASE("config: [policy.adaptive] declares the load signal and the control law") {
  const auto parsed = parse_config(R"(
[[policy]]
name = "api"
limit = 100
window = "1s"

[policy.adaptive]
signal = "reported:queue_depth"
target = 100
floor_at = 400.5
floor = 0.3
smoothing = "5s"
recover = "30s"
)",
                                   "drld.toml");
  REQUIRE(parsed.ok());
  const drl::core::Policy& policy = *parsed->policies->find("api");
  CHECK(policy.adaptive_enabled);
  CHECK(policy.adaptive.signal == "reported:queue_depth");
  CHECK(policy.adaptive.target == 100);
  CHECK(policy.adaptive.floor_at == 400.5);
  CHECK(policy.adaptive.floor_permille == 300);
  CHECK(policy.adaptive.smoothing_ms == 5000);
  CHECK(policy.adaptive.recover_ms == 30'000);
  CHECK(policy.adaptive.signal_stale_ms == 10'000);
  CHECK_FALSE(parse_config("[[policy]]\nname = \"x\"\nlimit = 1\nwindow = \"1s\"\n", "t")
                  ->policies->find("x")
                  ->adaptive_enabled);
}

TEST_CASE("config: an adaptive law that cannot work is rejected with the reason") {
  const auto policy = [](const std::string& adaptive) {
    return "[[policy]]\nname = \"api\"\nlimit = 100\nwindow = \"1s\"\n[policy.adaptive]\n" +
           adaptive;
  };
  CHECK(rejection(policy("signal = \"disk\"\ntarget = 1\nfloor_at = 2\n")).find("signal must be") !=
        std::string::npos);
  CHECK(rejection(policy("signal = \"cpu_percent\"\nfloor_at = 2\n")).find("target is missing") !=
        std::string::npos);
  CHECK(rejection(policy("signal = \"cpu_percent\"\ntarget = 80\nfloor_at = 50\n"))
            .find("floor_at must be above target") != std::string::npos);
  CHECK(rejection(policy("signal = \"loop_lag_ms\"\ntarget = 5\nfloor_at = 50\nfloor = 0\n"))
            .find("floor must be between") != std::string::npos);
  CHECK(rejection(policy("signal = \"reported:\"\ntarget = 5\nfloor_at = 50\n"))
            .find("must not be empty") != std::string::npos);
}

TEST_CASE(
    "config: [envoy] names the gRPC listen address and the YAML directory; no TOML policy "
    "is needed then") {
  const auto parsed = parse_config(
      "[envoy]\nlisten = \"127.0.0.1:8081\"\nconfig_dir = \"/etc/drl/ratelimit\"\n"
      "algorithm = \"sliding\"\nresponse_headers = \"both\"\nthreads = 4\n",
      "test.toml");
  REQUIRE(parsed.ok());
  const drl::config::EnvoySettings& envoy = parsed.value().envoy;
  CHECK(envoy.enabled);
  CHECK(envoy.listen == "127.0.0.1:8081");
  CHECK(envoy.config_dir == "/etc/drl/ratelimit");
  CHECK(envoy.algorithm == drl::core::Algorithm::sliding);
  CHECK(envoy.response_headers == "both");
  CHECK(envoy.threads == 4);
  CHECK(parsed.value().policies->policies().empty());
  const auto defaults =
      parse_config("[envoy]\nlisten = \"127.0.0.1:8081\"\nconfig_dir = \"/r\"\n", "test.toml");
  REQUIRE(defaults.ok());
  CHECK(defaults.value().envoy.algorithm == drl::core::Algorithm::fixed);
  CHECK(defaults.value().envoy.response_headers == "none");
  CHECK(defaults.value().envoy.threads == drl::bounds::rls_server_threads_default);
  CHECK_FALSE(parse_config("[envoy]\nlisten = \"127.0.0.1:1\"\nconfig_dir = \"/r\"\nthreads = 0\n",
                           "test.toml")
                  .ok());
  CHECK_FALSE(parse_config("[node]\nid = \"a\"\n", "test.toml").ok());
}

TEST_CASE("config: [node] state_dir is off by default and saves every second when set") {
  const auto off = parse_config(kPolicy, "a");
  REQUIRE(off.ok());
  CHECK(off->node.state_dir.empty());
  CHECK(off->node.state_save_interval_ms == 1000);
  const auto on = parse_config(
      "[node]\nstate_dir = \"/var/lib/drl\"\nstate_save_interval = \"250ms\"\n" + kPolicy, "b");
  REQUIRE(on.ok());
  CHECK(on->node.state_dir == "/var/lib/drl");
  CHECK(on->node.state_save_interval_ms == 250);
  CHECK(drl::config::restart_only_changes(off.value(), on.value()) ==
        "node.state_dir, node.state_save_interval");
  const auto too_often =
      parse_config("[node]\nstate_dir = \"/x\"\nstate_save_interval = \"10ms\"\n" + kPolicy, "c");
  REQUIRE_FALSE(too_often.ok());
  CHECK(too_often.error().message.find("state_save_interval") != std::string::npos);
}

TEST_CASE("config: a relative [node] state_dir is refused: relative to what?") {
  const auto relative = parse_config("[node]\nstate_dir = \"var/drl\"\n" + kPolicy, "a");
  REQUIRE_FALSE(relative.ok());
  CHECK(relative.error().message.find("state_dir must be an absolute path") != std::string::npos);
}

TEST_CASE("config: enforcement = \"hard\" counts fixed windows, by default and only") {
  const auto parsed = parse_config(R"(
[[policy]]
name = "sms"
limit = 100
window = "1m"
enforcement = "hard"
)",
                                   "drld.toml");
  REQUIRE(parsed.ok());
  const auto* policy = parsed->policies->find("sms");
  REQUIRE(policy != nullptr);
  CHECK(policy->enforcement == drl::core::Enforcement::hard);
  CHECK(policy->defaults.rules.front().algorithm == drl::core::Algorithm::fixed);
  CHECK(parse_config(kPolicy, "drld.toml")->policies->find("api")->enforcement ==
        drl::core::Enforcement::approximate);

  const std::string sliding = rejection(R"(
[[policy]]
name = "sms"
enforcement = "hard"
limit = 100
window = "1m"
endpoints = { "/send" = { limit = 5, window = "1s", algorithm = "sliding" } }
)");
  CHECK(sliding.find("drld.toml:4:") == 0);
  CHECK(sliding.find("the 1s limit of endpoint '/send' is sliding") != std::string::npos);
  CHECK(rejection(kPolicy + "enforcement = \"strict\"\n")
            .find("enforcement must be \"approximate\" or \"hard\"") != std::string::npos);
}

TEST_CASE("config: a hard policy may let its checks wait for a grant, up to 100 ms") {
  const std::string hard =
      "[[policy]]\nname = \"sms\"\nlimit = 100\nwindow = \"1m\"\n"
      "enforcement = \"hard\"\n";
  const auto parsed = parse_config(hard + "rights_wait_max = \"5ms\"\n", "drld.toml");
  REQUIRE(parsed.ok());
  CHECK(parsed->policies->find("sms")->rights_wait_max_ms == 5);
  CHECK(parse_config(hard, "drld.toml")->policies->find("sms")->rights_wait_max_ms == 0);
  CHECK(rejection(hard + "rights_wait_max = \"1s\"\n").find("between 0ms and 100ms") !=
        std::string::npos);
  CHECK(rejection(kPolicy + "rights_wait_max = \"5ms\"\n")
            .find("rights_wait_max is for enforcement = \"hard\"") != std::string::npos);
}

TEST_CASE("config: a hard limit needs the members listed in [cluster] peers, not found by seeds") {
  const std::string message = rejection(R"(
[cluster]
bind = "127.0.0.1:7001"
seeds = ["drl.example:7001"]

[[policy]]
name = "sms"
limit = 100
window = "1m"
enforcement = "hard"
)");
  CHECK(message.find("does not work with [cluster] seeds") != std::string::npos);
  const auto peers = parse_config(R"(
[cluster]
bind = "127.0.0.1:7001"
peers = ["127.0.0.1:7002"]
clock_skew_max = "250ms"

[[policy]]
name = "sms"
limit = 100
window = "1m"
enforcement = "hard"
)",
                                  "drld.toml");
  REQUIRE(peers.ok());
  CHECK(peers->cluster.clock_skew_max_ms == 250);
}
