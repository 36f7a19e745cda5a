#!/usr/bin/python3
"""ShouldRateLimit under h2load: the second gRPC client of scripts/bench-envoy.sh.

rls_load (tests/bench/rls_load.cpp) is grpc++'s own client, which spends as much CPU per call
as drld does, and sends each call in its own write: on a 2-core machine it sets the pace.
h2load (Debian's nghttp2-client) is a C HTTP/2 load generator on nghttp2, which writes the
frames of every stream ready in one write, as Envoy's HTTP/2 codec does for the calls of one
worker. It sends the same body every time, so this run counts one key ("k0"): a fixed window of
a minute whose limit no run reaches (bench-envoy.sh's domain), so every answer is OK.

    bench_h2load.py --target 127.0.0.1:PORT --server-pid PID --duration 5s --warmup 1s \
        --streams 50 --label 'x|grpc-h2load|1' --json

One JSON line with the fields of rls_load's (descriptors_per_s, latency_p50_us ...): latency is
h2load's per-request time (--log-file) of the requests started in the measured interval; CPU of
h2load and of --server-pid is read from /proc at the two ends of that interval.

Errors: h2load sees HTTP only, and a gRPC error is an HTTP 200 too (its status in the trailers).
With --drl and --socket, the errors are drld's own count (`drl status`: envoy_request_errors)
before and after the run, warm-up included; without them, a run whose answers carried no
message at all counts every call as an error.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time

METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


def length_delimited(field, payload):
    """A protobuf field of wire type 2 (bytes, string, message); payloads here are < 128 bytes."""
    assert len(payload) < 128
    return bytes([field << 3 | 2, len(payload)]) + payload


def request_body(domain, key_name, key_value):
    """A gRPC message (flag, length, bytes) holding RateLimitRequest{domain, descriptors: [
    {entries: [{key, value}]}]}, from the field numbers of rls.proto and ratelimit.proto."""
    entry = length_delimited(1, key_name.encode()) + length_delimited(2, key_value.encode())
    descriptor = length_delimited(1, entry)
    request = length_delimited(1, domain.encode()) + length_delimited(2, descriptor)
    return b"\x00" + struct.pack(">I", len(request)) + request


def seconds(text):
    """'5s', '300ms' or a number of seconds."""
    match = re.fullmatch(r"([0-9.]+)(ms|s)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text}")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND


def percentile(sorted_values, fraction):
    """Nearest rank, as drl-bench's histogram."""
    if not sorted_values:
        return None
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


def request_errors(options):
    """drld's count of gRPC calls answered with an error, or None without --drl/--socket."""
    if not (options.drl and options.socket):
        return None
    status = subprocess.run([options.drl, "status", "--socket", options.socket, "--json"],
                            capture_output=True, text=True, timeout=30, check=True)
    return int(json.loads(status.stdout)["envoy_request_errors"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="host:port of drld's [envoy] listen")
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--duration", type=seconds, default=5.0)
    parser.add_argument("--warmup", type=seconds, default=1.0)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--domain", default="bench")
    parser.add_argument("--key-name", default="key")
    parser.add_argument("--label", default="")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--drl", help="the drl binary, to read drld's error count")
    parser.add_argument("--socket", help="drld's Unix socket, with --drl")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="drl-h2load.") as work:
        body_path = os.path.join(work, "body")
        log_path = os.path.join(work, "requests.log")
        with open(body_path, "wb") as body:
            body.write(request_body(options.domain, options.key_name, "k0"))
        command = ["h2load", "--clients=1", "--threads=1", f"--max-concurrent-streams={options.streams}",
                   f"--duration={round(options.duration * 1000)}ms",
                   f"--warm-up-time={round(options.warmup * 1000)}ms",
                   f"--data={body_path}", "--header=content-type: application/grpc",
                   "--header=te: trailers", f"--log-file={log_path}",
                   f"http://{options.target}{METHOD}"]
        errors_before = request_errors(options)
        h2load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        # h2load connects, then warms up: the measured interval starts after both.
        time.sleep(options.warmup + 0.05)
        start_wall, start_client, start_server = (time.time(), cpu_seconds(h2load.pid),
                                                  cpu_seconds(options.server_pid))
        time.sleep(max(0.0, options.duration - 0.1))
        end_wall, end_client, end_server = (time.time(), cpu_seconds(h2load.pid),
                                            cpu_seconds(options.server_pid))
        try:
            output, _ = h2load.communicate(timeout=options.duration + 60)
        except subprocess.TimeoutExpired:
            h2load.kill()
            sys.exit("bench_h2load.py: h2load did not finish")
        errors_after = request_errors(options)
        if h2load.returncode != 0:
            sys.exit(f"bench_h2load.py: h2load failed:\n{output}")

        latencies = []
        with open(log_path) as log:
            for line in log:
                started_us, status, took_us = line.split()[:3]
                if status == "200" and start_wall <= int(started_us) / 1e6 <= end_wall:
                    latencies.append(int(took_us))
    latencies.sort()

    def number(pattern):
        match = re.search(pattern, output)
        if not match:
            sys.exit(f"bench_h2load.py: no '{pattern}' in h2load's output:\n{output}")
        return float(match.group(1))

    rate = number(r"finished in [0-9.]+m?s, ([0-9.]+) req/s")
    done = int(number(r"requests: [0-9]+ total, [0-9]+ started, ([0-9]+) done"))
    succeeded = int(number(r"([0-9]+) succeeded"))
    data_bytes = number(r"traffic: .*?\(([0-9]+)\) data")
    if errors_before is not None:
        errors = min(done, errors_after - errors_before)
    else:
        # A gRPC error has no message: answers that carried none at all were all errors.
        errors = done if data_bytes == 0 else done - succeeded
    answered = done - errors
    measured = end_wall - start_wall
    result = {
        "label": options.label, "target": "grpc-h2load", "streams": options.streams,
        "descriptors_per_request": 1, "keys": 1, "seconds": round(options.duration, 3),
        "requests": done, "descriptors_per_s": round(rate, 1), "requests_per_s": round(rate, 1),
        "answered": answered, "errors": errors,
        "latency_p50_us": percentile(latencies, 0.50),
        "latency_p99_us": percentile(latencies, 0.99),
        "latency_p999_us": percentile(latencies, 0.999),
        "latency_max_us": latencies[-1] if latencies else None,
        "client_cpu_percent": round(100 * (end_client - start_client) / measured, 1),
        "server_pid": options.server_pid,
        "server_cpu_percent": round(100 * (end_server - start_server) / measured, 1),
        "server_cpu_us_per_descriptor":
            round((end_server - start_server) * 1e6 / (rate * measured), 3) if rate else 0.0,
    }
    if options.json:
        print(json.dumps(result, separators=(",", ":")))
    else:
        print(f"{options.label} grpc-h2load {options.target}: {options.streams} streams, "
              f"{rate:,.0f} descriptors/s, p50 {result['latency_p50_us']} us, "
              f"p99 {result['latency_p99_us']} us, errors {result['errors']}")


if __name__ == "__main__":
    main()
