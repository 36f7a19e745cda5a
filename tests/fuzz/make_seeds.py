#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (tests/fuzz/corpus/<harness>/) from the frozen
bytes of tests/golden and the shipped TOML files, plus a few hand-made requests; for the Envoy
harnesses, hand-made RateLimitRequests and the YAML files of the harness and of tests/envoy; for
the state file, the frozen files of tests/wire/state_file_test.cpp.
Deterministic: run it again after a golden file changes, and commit the result.

    python3 tests/fuzz/make_seeds.py

No third-party modules: the little msgpack and protobuf needed are written here.
"""
import hashlib
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
FUZZ = ROOT / "tests" / "fuzz"
GOLDEN = ROOT / "tests" / "golden"


def pack(value):
    """msgpack for the types requests use: dict (str keys), list, str, bytes, bool, uint."""
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if value < 0x80:
            return bytes([value])
        if value < 0x100:
            return b"\xcc" + bytes([value])
        if value < 0x10000:
            return b"\xcd" + struct.pack(">H", value)
        if value < 0x100000000:
            return b"\xce" + struct.pack(">I", value)
        return b"\xcf" + struct.pack(">Q", value)
    if isinstance(value, str):
        data = value.encode()
        if len(data) < 32:
            return bytes([0xA0 | len(data)]) + data
        if len(data) < 0x100:
            return b"\xd9" + bytes([len(data)]) + data
        return b"\xda" + struct.pack(">H", len(data)) + data
    if isinstance(value, bytes):
        return b"\xc4" + bytes([len(value)]) + value
    if isinstance(value, list):
        assert len(value) < 16
        return bytes([0x90 | len(value)]) + b"".join(pack(v) for v in value)
    if isinstance(value, dict):
        assert len(value) < 16
        return bytes([0x80 | len(value)]) + b"".join(pack(k) + pack(v) for k, v in value.items())
    raise TypeError(value)


def frame(body):
    return struct.pack(">I", len(body)) + body


def from_hex(path):
    return bytes(int(token, 16) for token in path.read_text().split())


def write(corpus, name, data):
    directory = FUZZ / "corpus" / corpus
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def client_request_seeds():
    # The frozen requests of protocol version 1, as a connection carries them (with headers).
    for name in ["check_request", "batch_request", "compound_check_request", "op_requests"]:
        write("client_request", name, from_hex(GOLDEN / "client_v1" / f"{name}.hex"))
    # Requests on the harness's policies: tiers, endpoints, detail, inspect, errors in a batch,
    # a binary key, and a pipeline of checks that runs into the limit.
    requests = {
        "check_tier_endpoint": {"v": 1, "id": 7, "op": "check", "policy": "api", "key": "10.0.0.1",
                                "tier": "pro", "endpoint": "POST /v1/export", "detail": True},
        "check_binary_key": {"v": 1, "id": 8, "op": "check", "policy": "demo", "key": b"\x00\x01\xff",
                             "cost": 2},
        "inspect": {"v": 1, "id": 9, "op": "inspect", "policy": "api", "key": "alice",
                    "endpoint": "POST /v1/login"},
        "compound_shadow": {"v": 1, "id": 10, "op": "check", "detail": True,
                            "items": [{"policy": "api", "key": "acme", "tier": "free"},
                                      {"policy": "tenant", "key": "acme", "cost": 3},
                                      {"policy": "user", "key": "u1"}]},
        "batch_errors": {"v": 1, "id": 11, "op": "batch", "checks": [
            {"policy": "api", "key": "k1"},
            {"policy": "nope", "key": "k2"},
            {"policy": "api", "key": ""},
            {"policy": "demo", "key": "k3", "cost": 4294967296},
            {"items": [{"policy": "demo", "key": "k4"}], "detail": True},
            {"policy": "demo", "key": "k5", "items": []},
        ]},
        "unknown_op": {"v": 1, "id": 12, "op": "frobnicate"},
        "newer_version": {"v": 2, "id": 13, "op": "ping"},
    }
    for name, request in requests.items():
        write("client_request", name, frame(pack(request)))
    pipeline = b"".join(
        frame(pack({"v": 1, "id": i, "op": "check", "policy": "demo", "key": "hot"}))
        for i in range(1, 6))
    write("client_request", "pipeline_to_limit", pipeline)


def record(control, payload):
    return bytes([control]) + struct.pack(">H", len(payload)) + payload


def cluster_datagram_seeds():
    golden = {}
    for path in sorted((GOLDEN / "cluster_v1").glob("*.hex")):
        golden[path.stem] = from_hex(path)
    header = 18
    for name, datagram in golden.items():
        authenticated = (datagram[4] & 1) != 0
        tag = 16 if authenticated else 8
        body = datagram[header:-tag]
        node = 1 if authenticated else 0
        # As it was frozen (raw), then its body sealed for both nodes, with a timer after each.
        write("cluster_datagram", f"{name}_raw", record(node | 0x02 | 0x04, datagram))
        write("cluster_datagram", f"{name}_sealed",
              record(0x04 | 0x40, b"\x01" + body) + record(0x01 | 0x04 | 0x40, b"\x01" + body))
    # A conversation: heartbeat, delta, a replay of it, an ack, a repair, overrides (merged,
    # then sent on by the timer), time passing.
    bodies = {name: d[header:-(16 if d[4] & 1 else 8)] for name, d in golden.items()}
    conversation = b"".join([
        record(0x04, b"\x01" + bodies["heartbeat"]),
        record(0x40, b"\x01" + bodies["delta"]),
        record(0x40, b"\x00" + bodies["delta"]),
        record(0x04 | 0x80, b"\x01" + bodies["ack"]),
        record(0x08 | 0x10, b"\x05" + bodies["repair_authenticated"]),
        record(0x04 | 0x40, b"\x01" + bodies["overrides"]),
        record(0x04 | 0xC0, b""),
    ])
    write("cluster_datagram", "conversation", conversation)
    # Relays: node-a and another node are heard, then node-a asks this node to forward the
    # frozen relay's payload to the other one (a live peer: forwarded), and to an address it
    # does not know (refused); timers in between.
    node_c = pack({0: 1, 1: "node-c", 2: 3, 4: "192.0.2.3:7001", 5: 1_800_000_000_000, 6: 5})
    # A leave after a heartbeat, then a late delta of the same incarnation, then time.
    write("cluster_datagram", "leave", b"".join([
        record(0x04, b"\x01" + bodies["heartbeat"]),
        record(0x04, b"\x01" + bodies["leave"]),
        record(0x04, b"\x01" + bodies["delta"]),
        record(0x04 | 0xC0, b""),
    ]))
    write("cluster_datagram", "relay", b"".join([
        record(0x04, b"\x01" + bodies["heartbeat"]),
        record(0x04 | 0x10, b"\x01" + node_c),
        record(0x04, b"\x01" + bodies["relay"]),
        record(0x04, b"\x01" + bodies["relay"].replace(b"192.0.2.3:7001", b"192.0.2.9:7001")),
        record(0x04 | 0x80, b""),
    ]))
    long_window_seeds()
    membership_seeds()


def long_window_seeds():
    """Windows over 31 days (whole seconds up to 366 days): a delta with a year's and a minute's
    counts, an override of the year's limit, then time for the node to repair them onward."""
    node_a, inc_a = "node-a", 1_800_000_000_000_001
    wall = 1_800_000_000_000
    day = 86_400_000
    delta = pack({0: 3, 1: node_a, 2: inc_a, 4: "192.0.2.1:7001", 5: wall, 6: 0,
                  8: [[node_a, inc_a]],
                  9: [[60_000, wall // 60_000, [0x1234, 0, 7]],
                      [365 * day, wall // (365 * day), [0x5678, 0, 9, 0x9ABC, 0, 1]],
                      [366 * day, wall // (366 * day), [0xDEF0, 0, 2]]]})
    overrides = pack({0: 5, 1: node_a, 2: inc_a, 4: "192.0.2.1:7001", 5: wall, 6: 0,
                      11: [["api", "", "", 365 * day, 1, 100, wall, wall + 60_000, wall + 60_000,
                            "yearly", wall, 0, node_a]]})
    write("cluster_datagram", "long_windows", b"".join([
        record(0x04, b"\x01" + delta),
        record(0x04, b"\x01" + overrides),
        record(0x04 | 0x80, b""),
        record(0x04 | 0x80, b""),
    ]))


MASK64 = (1 << 64) - 1


def mt19937_64(seed):
    """std::mt19937_64 seeded with one value: a generator of its outputs."""
    n, m = 312, 156
    state = [seed & MASK64]
    for i in range(1, n):
        state.append((6364136223846793005 * (state[-1] ^ (state[-1] >> 62)) + i) & MASK64)
    index = n
    while True:
        if index >= n:
            for i in range(n):
                x = (state[i] & 0xFFFFFFFF80000000) | (state[(i + 1) % n] & 0x7FFFFFFF)
                state[i] = state[(i + m) % n] ^ (x >> 1) ^ (0xB5026F5AA96619E9 if x & 1 else 0)
            index = 0
        y = state[index]
        index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        yield y & MASK64


def heartbeat_tokens(node_id, incarnation):
    """The tokens of a replicator's heartbeats, in the order it draws them (seed_of in
    src/core/replicator.cpp)."""
    seed = incarnation ^ 0x9E3779B97F4A7C15
    for c in node_id.encode():
        seed = ((seed ^ c) * 0x100000001B3) & MASK64
    return (token | 1 for token in mt19937_64(seed))


def membership_seeds():
    """Inputs that reach the harness's membership invariants (issue 20): the node's own
    datagram replayed from a peer's address; an address-less sender that hears the node,
    replayed from another source; the same sender silent, replayed from two new sources."""
    node_a, inc_a = "node-a", 1_800_000_000_000_001
    node_b, inc_b = "node-b", 1_800_000_000_000_002  # the node under test (the harness's config)
    wall = 1_800_000_000_000

    def message(kind, sender, incarnation, address, token):
        return pack({0: kind, 1: sender, 2: incarnation, 4: address, 5: wall, 6: token})

    generator = mt19937_64(5489)
    assert next(generator) == 14514284786278117030  # std::mt19937_64's default seed, first output
    # The node heartbeats its configured peers, 192.0.2.1 then 192.0.2.3, at its first timer.
    tokens = heartbeat_tokens(node_b, inc_b)
    token_to_a = next(tokens)
    token_to_3 = next(tokens)

    def sealed(control, body):
        return record(control, b"\x01" + body)

    for node, suffix in [(0x00, ""), (0x01, "_keyed")]:
        # node-a (192.0.2.1, source 0) is heard; then node-b's own heartbeat comes from there.
        write("cluster_datagram", "self_replayed_from_peer_address" + suffix, b"".join([
            sealed(node | 0x04, message(1, node_a, inc_a, "192.0.2.1:7001", 77)),
            sealed(node | 0x40, message(1, node_b, inc_b, "192.0.2.2:7001", 78)),
            sealed(node | 0x40, message(1, node_b, inc_b - 1, "192.0.2.2:7001", 79)),
        ]))
        # node-a sends no address: heard from source 0, it echoes the node's first heartbeat
        # (so it hears the node); its heartbeat from source 3 ([2001:db8::1]) is then dropped.
        write("cluster_datagram", "address_less_from_second_source" + suffix, b"".join([
            record(node | 0x04, b""),
            sealed(node, message(1, node_a, inc_a, "", 80)),
            sealed(node, message(2, node_a, inc_a, "", token_to_a)),
            sealed(node | 0x30, message(1, node_a, inc_a, "", 81)),
        ]))
        # node-a (configured, 192.0.2.1) echoes the heartbeat sent to 192.0.2.3 (configured,
        # never heard): not merged. node-c, learned at 192.0.2.9, echoes it too: merged there.
        write("cluster_datagram", "alias_echo_of_configured_address" + suffix, b"".join([
            record(node | 0x04, b""),
            sealed(node, message(1, node_a, inc_a, "192.0.2.1:7001", 85)),
            sealed(node, message(2, node_a, inc_a, "192.0.2.1:7001", token_to_3)),
            sealed(node, message(1, "node-c", 1, "192.0.2.9:7001", 86)),
            sealed(node | 0x04, message(2, "node-c", 1, "192.0.2.9:7001", token_to_3)),
        ]))
        # node-a, silent for 5 s, replayed from source 3, then from source 2: one learned entry,
        # moved.
        write("cluster_datagram", "address_less_silent_then_moved" + suffix, b"".join([
            sealed(node | 0x04, message(1, node_a, inc_a, "", 82)),
            sealed(node | 0x04 | 0x30 | 0xC0, message(1, node_a, inc_a, "", 83)),
            sealed(node | 0x04 | 0x20 | 0x40, message(1, node_a, inc_a, "", 84)),
        ]))


def config_seeds():
    sources = [ROOT / "config" / "drld.example.toml", ROOT / "config" / "drld.default.toml"]
    sources += sorted((ROOT / "sim" / "scenarios").glob("*.toml"))
    for path in sources:
        prefix = "scenario_" if path.parent.name == "scenarios" else ""
        write("config", prefix + path.name, path.read_bytes())
    # Every section drld reads, set (the example file leaves [cluster] and [http] commented).
    write("config", "every_section.toml", b'''[node]
id = "a"
socket = "/tmp/drl.sock"
socket_mode = 0o600
workers = 2
log_level = "debug"
watch_config = false

[bounds]
max_keys = 200000
store_shards = 16
max_connections = 64
max_request_bytes = 4096
max_batch_checks = 16
max_pending_output_bytes = 65536
idle_timeout = "5m"
frame_timeout = "10s"
stalled_output_timeout = "30s"

[cluster]
bind = "127.0.0.1:7001"
advertise = "127.0.0.1:7001"
peers = ["127.0.0.1:7002", "[::1]:7003"]
seeds = ["drl.default.svc.cluster.local:7001"]
seeds_resolve_interval = "30s"
gossip_interval = "5ms"
heartbeat_interval = "200ms"
suspect_after = "1s"
down_after = "3s"
forget_after = "10m"
repair_interval = "100ms"
repair_updates_per_interval = 4096
partition_policy = "proportional"
datagram_bytes = 1400
max_peers = 64
max_origins = 256

[http]
listen = "127.0.0.1:8080"
threads = 4
problem_details = false
request_timeout = "1s"

[[policy]]
name = "api"
limits = [{ limit = 5, window = "1s", algorithm = "fixed" }, { limit = 200, window = "1h30m" }]

[policy.http]
key = ["header-first:X-Forwarded-For", "remote_addr"]
tier = ["header:X-Tier"]
method = ["query:method"]

[policy.tiers.pro]
limits = [{ limit = 50, window = "1s" }, { limit = 20000, window = "1h30m" }]

[policy.endpoints."GET /v1/*"]
limit = 10
window = "250ms"
''')
    # Windows up to 366 days: a year's limit beside shorter ones, an endpoint's 366 days.
    write("config", "long_windows.toml", b'''[[policy]]
name = "api"
limits = [{ limit = 100, window = "31d" }, { limit = 1000, window = "1y" }, { limit = 5, window = "1s" }]

[policy.tiers.pro]
limits = [{ limit = 10000, window = "365d" }]

[policy.endpoints."POST /v1/export"]
limit = 12
window = "1y1d"
algorithm = "fixed"
''')


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    """A protobuf field: int -> varint (wire type 0), bytes/str -> length-delimited (2)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def rls_descriptor(entries, limit=None, hits_addend=None):
    """envoy.extensions.common.ratelimit.v3.RateLimitDescriptor: entries (1: key 1, value 2),
    limit (2: requests_per_unit 1, unit 2), hits_addend (3: google.protobuf.UInt64Value)."""
    out = b"".join(field(1, field(1, key) + (field(2, value) if value else b""))
                   for key, value in entries)
    if limit is not None:
        requests, unit = limit
        out += field(2, (field(1, requests) if requests else b"") + (field(2, unit) if unit else b""))
    if hits_addend is not None:
        out += field(3, field(1, hits_addend) if hits_addend else b"")
    return out


def rls_request(domain, descriptors, hits_addend=0):
    """envoy.service.ratelimit.v3.RateLimitRequest: domain 1, descriptors 2, hits_addend 3."""
    out = field(1, domain) if domain else b""
    out += b"".join(field(2, d) for d in descriptors)
    if hits_addend:
        out += field(3, hits_addend)
    return out


SECOND, MINUTE, HOUR, DAY, MONTH, YEAR, WEEK = 1, 2, 3, 4, 5, 6, 7


def rls_request_seeds():
    """Requests on the rules of rls_request_fuzz.cpp: every README example, wildcards, drl's
    extensions, overrides, hits_addend at both levels, and requests the bounds refuse."""
    d = rls_descriptor
    seeds = {
        "example1_database_users": rls_request("mongo_cps", [d([("database", "users")])]),
        "example1_unlisted_value": rls_request("mongo_cps", [d([("database", "logs")])]),
        "example2_marketing_nested": rls_request("messaging", [
            d([("message_type", "marketing"), ("to_number", "2061111111")]),
            d([("to_number", "2061111111")])]),
        "example3_blocked_address": rls_request("edge_proxy_per_ip", [
            d([("remote_address", "50.0.0.5")]), d([("remote_address", "10.0.0.1")])]),
        "example4_depth": rls_request("internal", [
            d([("key", "value")]), d([("key", "value"), ("subkey", "x")]),
            d([("key", "other"), ("subkey", "x")])]),
        "example5_unlimited": rls_request("internal", [d([("ldap", "")]), d([("azure", "")])]),
        "example6_shadow": rls_request("example6", [
            d([("service", "s"), ("user", "user-a")]), d([("service", "s"), ("user", "user-b")]),
            d([("shadow_all", "yes")])], hits_addend=2),
        "example7_replaces": rls_request("example7", [
            d([("key_1", "value_1"), ("user", "bkthomps")]),
            d([("key_2", "value_2"), ("user", "bkthomps")]),
            d([("key_2", "value_2"), ("user", "alice")])]),
        "example8_wildcards": rls_request("example8", [
            d([("key1", "value2")]), d([("key1", "value1")]), d([("wild", "value42")]),
            d([("path", "files/a")]), d([("path", "files/b")]), d([("path", "files/special")]),
            d([("p", "/api/v2/x")]), d([("p", "/other")])]),
        "drl_extensions": rls_request("drl", [
            d([("api", "k")]), d([("burst", "k")]), d([("closed", "k")]),
            d([("tenant", "t"), ("plan", "free"), ("user", "u")]),
            d([("tenant", "t"), ("plan", "pro")])]),
        "drl_huge_limit_zero_hits": rls_request("drl", [d([("huge", "k")], hits_addend=0)]),
        "hits_addend_both_levels": rls_request("mongo_cps", [
            d([("database", "users")], hits_addend=2), d([("database", "default")])],
            hits_addend=3),
        "hits_addend_above_limit": rls_request("drl", [
            d([("api", "k")], hits_addend=4294967295), d([("burst", "k")])]),
        "overrides": rls_request("mongo_cps", [
            d([("database", "users")], limit=(1, SECOND)),
            d([("anything", "x")], limit=(2, WEEK)),
            d([("database", "default")], limit=(0, MINUTE)),
            d([("database", "users")], limit=(7, YEAR), hits_addend=3)]),
        "override_unknown_unit": rls_request("mongo_cps", [
            d([("database", "users")], limit=(5, 0))]),
        "unknown_domain": rls_request("nowhere", [d([("database", "users")], limit=(1, 99))]),
        "nine_limited_descriptors": rls_request("drl", [
            d([("api", str(i))]) for i in range(9)]),
        "same_counter_twice": rls_request("edge_proxy_per_ip", [
            d([("remote_address", "10.0.0.9")]) for _ in range(3)]),
        "no_descriptor": rls_request("mongo_cps", []),
        "no_domain": rls_request("", [d([("database", "users")])]),
        "entry_not_utf8": rls_request("mongo_cps", [d([("database", b"\xff\xfe")])]),
        "descriptors_65": rls_request("mongo_cps", [d([("k", str(i))]) for i in range(65)]),
        "entries_17": rls_request("mongo_cps", [d([("k", str(i)) for i in range(17)])]),
        "value_1025_bytes": rls_request("drl", [d([("api", "v" * 1025)])]),
        "hits_addend_2_pow_32": rls_request("drl", [d([("api", "k")], hits_addend=1 << 32)]),
    }
    for name, data in seeds.items():
        write("rls_request", name, data)


def rls_config_seeds():
    """The YAML files of rls_request_fuzz.cpp and of the tests of tests/envoy (raw strings that
    name a domain), valid and not."""
    harness = (FUZZ / "rls_request_fuzz.cpp").read_text()
    for name, text in re.findall(r'\{"([a-z0-9_]+)\.yaml", R"\((.*?)\)"\}', harness, re.S):
        write("rls_config", "harness_" + name + ".yaml", text.encode())
    for path in sorted((ROOT / "tests" / "envoy").glob("*_test.cpp")):
        texts = [t for t in re.findall(r'R"\((.*?)\)"', path.read_text(), re.S) if "domain:" in t]
        for index, text in enumerate(texts):
            write("rls_config", f"{path.stem}_{index:02d}.yaml", text.encode())


def state_file_seeds():
    """The frozen files of state file formats 1 and 2 in tests/wire/state_file_test.cpp (their
    checksums come from there: Python has no XXH3), for state_file_fuzz.cpp: each as a file
    (control 0x00) and its payload for the harness to seal (0x01, or 0x09 for format 1's); the
    sample cut short, of a newer format, and over the limits (0x02: none allowed)."""
    test = (ROOT / "tests" / "wire" / "state_file_test.cpp").read_text()
    frozen = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): bytes.fromhex(text)
              for name, text in re.findall(r'kFrozen(\w+) = R"\((.*?)\)"', test, re.S)}
    assert set(frozen) == {"sample", "empty_store", "sample_with_overrides"}, frozen.keys()
    header = 28
    for name, data in frozen.items():
        format_1 = data[8:12] == struct.pack(">I", 1)
        write("state_file", f"{name}_file", b"\x00" + data)
        write("state_file", f"{name}_payload", (b"\x09" if format_1 else b"\x01") + data[header:])
    sample = frozen["sample_with_overrides"]
    write("state_file", "sample_truncated", b"\x00" + sample[:len(sample) // 2])
    newer = sample[:8] + struct.pack(">I", 3) + sample[12:]
    write("state_file", "sample_newer_format", b"\x00" + newer)
    write("state_file", "sample_over_limits", b"\x02" + sample)


def main():
    client_request_seeds()
    cluster_datagram_seeds()
    config_seeds()
    state_file_seeds()
    rls_request_seeds()
    rls_config_seeds()
    for corpus in sorted((FUZZ / "corpus").iterdir()):
        files = sorted(corpus.iterdir())
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]
        print(f"{corpus.name}: {len(files)} seeds ({digest})")


if __name__ == "__main__":
    main()
