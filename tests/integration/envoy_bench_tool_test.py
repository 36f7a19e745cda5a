#!/usr/bin/python3
# rls_load (tests/bench/rls_load.cpp) and scripts/bench_h2load.py, the gRPC loads of
# scripts/bench-envoy.sh, against a real drld: each runs, prints one well-formed JSON line whose
# counts add up, and counts the answers it gets as drld gives them (rls_load: OK and OVER_LIMIT;
# bench_h2load.py: answered or an error). No timing is asserted: the numbers are
# docs/benchmarks.md's, measured on a quiet machine.
#
# Run by meson (suite integration, with the feature 'envoy'): exits 77 (skipped) without
# python3-grpcio. RLS_LOAD names the binary.
import json
import os
import shutil
import sys

from rls_harness import DRL, Drld, TempDir, case, check, check_equal, run, run_cases

RLS_LOAD = os.environ.get("RLS_LOAD", "")
BENCH_H2LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                            "bench_h2load.py")

# "wide": room for every call of a run; "narrow": one hit per minute for each of its keys.
RULES = """\
domain: bench
descriptors:
  - key: wide
    rate_limit:
      unit: minute
      requests_per_unit: 1000000000
  - key: narrow
    rate_limit:
      unit: minute
      requests_per_unit: 1
"""


class Context:
    def __init__(self):
        self.dir = TempDir()
        config_dir = self.dir.file("ratelimit")
        os.mkdir(config_dir)
        with open(os.path.join(config_dir, "bench.yaml"), "w") as stream:
            stream.write(RULES)
        self.drld = Drld(self.dir.path, config_dir)

    def dump_logs(self):
        print("--- drld log ---\n" + self.drld.log())

    def close(self):
        self.drld.kill()
        self.dir.close()


def load(c, *options):
    """Runs rls_load briefly against c's drld with `options`; returns its JSON report."""
    argv = [RLS_LOAD, "--target", c.drld.target, "--domain", "bench", "--duration", "300ms",
            "--warmup", "100ms", "--server-pid", str(c.drld.process.pid), "--json"]
    code, out, err = run(argv + list(options), timeout_s=30)
    lines = out.splitlines()
    check(len(lines) == 1, "one JSON line expected, got %r (stderr: %s)" % (out, err))
    report = json.loads(lines[0])
    print("  exit %d: %s" % (code, lines[0]))
    return code, report


@case("a run at 8 streams of 3 descriptors prints one JSON line whose counts add up")
def counts_add_up(c):
    code, report = load(c, "--key-name", "wide", "--streams", "8", "--channels", "2",
                        "--descriptors", "3", "--label", "smoke|grpc|1")
    check_equal(code, 0, "exit code")
    check_equal(report["label"], "smoke|grpc|1", "label")
    check_equal(report["target"], "grpc", "target")
    check_equal((report["streams"], report["channels"], report["descriptors_per_request"]),
                (8, 2, 3), "streams, channels, descriptors per request")
    check(report["requests"] > 0, "no call completed in the measured interval")
    check_equal(report["errors"], 0, "errors")
    check_equal(report["ok"] + report["over_limit"], report["requests"], "ok + over_limit")
    check_equal(report["over_limit"], 0, "over_limit (the limit has room for every call)")
    check_equal(report["descriptors"], 3 * report["requests"], "descriptors")
    check(report["sent"] >= report["requests"], "sent below requests")
    check(abs(report["descriptors_per_s"] - report["descriptors"] / report["seconds"]) < 1,
          "descriptors_per_s is not descriptors over seconds")
    check(0 < report["latency_p50_us"] <= report["latency_p99_us"] <= report["latency_p999_us"]
          <= report["latency_max_us"], "latency percentiles out of order")
    for field in ("client_cpu_percent", "server_cpu_percent", "server_cpu_us_per_descriptor"):
        check(report[field] >= 0, "%s missing or negative" % field)
    check_equal(report["server_pid"], c.drld.process.pid, "server_pid")


@case("answers over the limit are counted as over_limit, not as errors")
def over_limit(c):
    # Ten keys at one hit per minute each: after the first ten calls every answer is OVER_LIMIT.
    code, report = load(c, "--key-name", "narrow", "--keys", "10", "--streams", "2")
    check_equal(code, 0, "exit code")
    check_equal(report["errors"], 0, "errors")
    check(report["ok"] <= 10, "more than one admitted call per key: %d" % report["ok"])
    check(report["over_limit"] > 0, "no call counted over the limit")
    check_equal(report["ok"] + report["over_limit"], report["requests"], "ok + over_limit")


@case("a target where nothing listens fails with a message, not a report")
def nothing_listens(c):
    del c
    code, out, err = run([RLS_LOAD, "--target", "127.0.0.1:1", "--duration", "100ms",
                          "--warmup", "0ms", "--connect-timeout", "1s", "--json"], timeout_s=30)
    check(code != 0, "exit code 0 against a port where nothing listens")
    check_equal(out, "", "stdout")
    check("cannot connect" in err, "stderr: %r" % err)


def h2load_run(c, *options):
    """Runs bench_h2load.py briefly against c's drld; returns its JSON report."""
    argv = [sys.executable, BENCH_H2LOAD, "--target", c.drld.target, "--duration", "300ms",
            "--warmup", "100ms", "--server-pid", str(c.drld.process.pid), "--json"]
    code, out, err = run(argv + list(options), timeout_s=60)
    check_equal(code, 0, "exit code (stderr: %s)" % err)
    lines = out.splitlines()
    check(len(lines) == 1, "one JSON line expected, got %r (stderr: %s)" % (out, err))
    print("  " + lines[0])
    return json.loads(lines[0])


@case("bench_h2load.py: a run through h2load at 50 streams reports its answers and percentiles")
def h2load_counts_add_up(c):
    check(shutil.which("h2load") is not None,
          "h2load is missing (nghttp2-client: scripts/setup.sh --with-tests installs it)")
    report = h2load_run(c, "--key-name", "wide", "--label", "smoke|grpc-h2load|1")
    check_equal((report["label"], report["target"], report["streams"]),
                ("smoke|grpc-h2load|1", "grpc-h2load", 50), "label, target, streams")
    check(report["requests"] > 0, "no call completed in the measured interval")
    check_equal(report["errors"], 0, "errors")
    check_equal(report["answered"], report["requests"], "answered")
    check(abs(report["descriptors_per_s"] - report["requests"] / report["seconds"])
          <= 0.05 * report["descriptors_per_s"], "descriptors_per_s is not requests over seconds")
    check(0 < report["latency_p50_us"] <= report["latency_p99_us"] <= report["latency_p999_us"]
          <= report["latency_max_us"], "latency percentiles out of order")
    check(report["server_cpu_us_per_descriptor"] > 0, "no server CPU per descriptor")


@case("bench_h2load.py: calls drld refuses (an empty domain) are counted as errors")
def h2load_counts_errors(c):
    check(shutil.which("h2load") is not None,
          "h2load is missing (nghttp2-client: scripts/setup.sh --with-tests installs it)")
    report = h2load_run(c, "--domain", "", "--label", "refused|grpc-h2load|1")
    check(report["requests"] > 0, "no call completed in the measured interval")
    check_equal(report["answered"], 0, "answered")
    check_equal(report["errors"], report["requests"], "errors")


@case("bench_h2load.py: with drl and the socket, errors are drld's own count, none for OK calls")
def h2load_reads_drld_errors(c):
    check(shutil.which("h2load") is not None,
          "h2load is missing (nghttp2-client: scripts/setup.sh --with-tests installs it)")
    drld_args = ("--drl", DRL, "--socket", c.drld.socket)
    report = h2load_run(c, "--key-name", "wide", *drld_args)
    check(report["requests"] > 0, "no call completed in the measured interval")
    check_equal((report["errors"], report["answered"]), (0, report["requests"]),
                "errors, answered")
    refused = h2load_run(c, "--domain", "", *drld_args)
    check_equal((refused["answered"], refused["errors"]), (0, refused["requests"]),
                "answered, errors of refused calls")


if __name__ == "__main__":
    if not RLS_LOAD:
        print("FAIL: RLS_LOAD must name the rls_load binary (meson test sets it)")
        sys.exit(1)
    sys.exit(run_cases(Context))
