#!/usr/bin/python3
# Requests Envoy should never send, and a few it may: each is answered with a gRPC error status
# (never a crash, never a hang), counts nothing, shows in drl_envoy_calls_total by outcome, and
# the service answers the next request as before. The bounds are those of src/core/bounds.hpp
# (64 descriptors, 16 entries, 1024 bytes per key or value, 256 per domain, 64 KiB per request,
# 8 limited descriptors decided together).
#
# Not here: a call that arrives past its deadline. A client deadline short enough to pass in
# flight is not deterministic from outside (the client gives up on its own, and the server may
# or may not have decided by then); tests/envoy/grpc_server_test.cpp covers it with the
# server's clock moved ahead.
#
# Run by meson (suite integration, with the feature 'envoy'): exits 77 (skipped) without
# python3-grpcio.
import os
import sys

from rls_harness import (MINUTE_MS, Drld, RlsError, TempDir, case, check, check_equal,
                         expect_status, in_one_window, metric, run_cases)
import grpc  # after rls_harness, which exits 77 (skipped) without it
import rls_client

RULES = """\
domain: bad
descriptors:
  - key: k
    rate_limit:
      unit: minute
      requests_per_unit: 10
"""


class Context:
    def __init__(self):
        self.dir = TempDir()
        config_dir = self.dir.file("ratelimit")
        os.mkdir(config_dir)
        with open(os.path.join(config_dir, "bad.yaml"), "w") as stream:
            stream.write(RULES)
        self.drld = Drld(self.dir.path, config_dir, http=True)

    def dump_logs(self):
        print("--- drld log ---\n" + self.drld.log())

    def close(self):
        self.drld.kill()
        self.dir.close()


def keys_created(drld):
    status = drld.status()
    return status["keys_tracked"] + status["keys_expired"] + status["keys_evicted"]


def refused(drld, code, contains, outcome, domain="bad", descriptors=None, hits_addend=0,
            raw=None):
    """Sends the request (or `raw` bytes as the request body); checks it is refused with the gRPC
    `code`, a message containing `contains`, counted as `outcome`, with nothing counted; then
    that the service still answers."""
    before_keys = keys_created(drld)
    before = drld.metrics()
    try:
        if raw is not None:
            call = drld.client._channel.unary_unary(rls_client.METHOD)  # bytes as they are
            call(raw, timeout=5)
        else:
            drld.ask(domain, descriptors, hits_addend)
    except RlsError as error:
        got_code, message = error.code, error.message
    except grpc.RpcError as error:
        got_code, message = error.code().name, error.details()
    else:
        raise AssertionError("not refused: %s" % (descriptors,))
    check_equal(got_code, code, "status code (message %r)" % message)
    check(contains in message, "message %r does not say %r" % (message, contains))
    after = drld.metrics()
    if outcome is not None:
        check_equal(metric(after, "drl_envoy_calls_total", outcome=outcome) -
                    metric(before, "drl_envoy_calls_total", outcome=outcome), 1,
                    "drl_envoy_calls_total{outcome=%s}" % outcome)
    check_equal(keys_created(drld), before_keys, "counters made")
    answer = drld.ask("bad", [{"entries": [("k", "still-there")], "hits_addend": 0}])
    check_equal(answer["overall_code"], "OK", "the next request")
    return message


def descriptor(i):
    return [("k", "d%d" % i)]


@case("65 descriptors (the bound is 64) are INVALID_ARGUMENT; 64 are answered")
def too_many_descriptors(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "64", "invalid_argument",
                         descriptors=[[("nothing", str(i))] for i in range(65)]))
    answer = c.drld.ask("bad", [[("nothing", str(i))] for i in range(64)])
    check_equal(len(answer["statuses"]), 64, "statuses of 64 descriptors")


@case("a descriptor of 17 entries (the bound is 16) is INVALID_ARGUMENT")
def too_many_entries(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "16", "invalid_argument",
                         descriptors=[[("e%d" % i, "v") for i in range(17)]]))


@case("a key or value over 1024 bytes, and a domain over 256 bytes, are INVALID_ARGUMENT")
def too_long(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "1024", "invalid_argument",
                         descriptors=[[("k", "v" * 1025)]]))
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "1024", "invalid_argument",
                         descriptors=[[("k" * 1025, "v")]]))
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "256", "invalid_argument",
                         domain="d" * 257, descriptors=[[("k", "v")]]))


@case("a request over 64 KiB is refused by gRPC itself (RESOURCE_EXHAUSTED)")
def too_large(c):
    # 60 descriptors of 2 KiB: within the counts, over the bytes.
    big = [[("k", "x" * 1000), ("k2", "y" * 1000)] for _ in range(60)]
    refused(c.drld, "RESOURCE_EXHAUSTED", "", None, descriptors=big)


@case("9 descriptors with a limit in one request (the bound is 8) are INVALID_ARGUMENT and "
      "count nothing; 8 are decided together")
def too_many_limited(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "at most 8", "invalid_argument",
                         descriptors=[descriptor(i) for i in range(9)]))

    def body():
        answer = c.drld.ask("bad", [descriptor(i) for i in range(8)])
        check_equal(answer["overall_code"], "OK", "8 limited descriptors")
        for i, status in enumerate(answer["statuses"]):
            expect_status(status, "OK", (10, "MINUTE"), 9, "descriptor %d" % i)
    in_one_window(MINUTE_MS, body)


@case("an empty domain and a request without descriptors are INVALID_ARGUMENT")
def empty(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "domain", "invalid_argument", domain="",
                         descriptors=[[("k", "v")]]))
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "descriptor", "invalid_argument",
                         descriptors=[]))


@case("bytes that are not a RateLimitRequest are INVALID_ARGUMENT (malformed)")
def not_protobuf(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "", "malformed",
                         raw=b"\x0a\xff\xff\xff\xff\x0f garbage"))
    # A domain that is not UTF-8 (proto3 strings must be).
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "", "malformed",
                         raw=b"\x0a\x02\xc3\x28\x12\x06\x0a\x04\x0a\x01k\x12\x01v"))


@case("a limit override in a unit drl cannot name is INVALID_ARGUMENT")
def unknown_unit(c):
    print("  " + refused(c.drld, "INVALID_ARGUMENT", "", "invalid_argument",
                         descriptors=[{"entries": [("k", "u")], "limit": (5, 99)}]))


if __name__ == "__main__":
    sys.exit(run_cases(Context))
