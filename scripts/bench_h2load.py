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
"""
import argparse
import json
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
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(fraction * len(sorted_values)))
    return sorted_values[index]


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
        h2load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        # h2load connects, then warms up: the measured interval starts after both.
        time.sleep(options.warmup + 0.05)
        start_wall, start_client, start_server = (time.time(), cpu_seconds(h2load.pid),
                                                  cpu_seconds(options.server_pid))
        time.sleep(options.duration - 0.1)
        end_wall, end_client, end_server = (time.time(), cpu_seconds(h2load.pid),
                                            cpu_seconds(options.server_pid))
        output, _ = h2load.communicate(timeout=options.duration + 60)
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
    # An answer is OK when it carried a RateLimitResponse: a gRPC error has no message (HTTP 200
    # all the same, the status in the trailers), so fewer bytes than a frame header per call
    # would mean errors.
    answered = succeeded if succeeded and data_bytes >= 6 * succeeded else 0
    measured = end_wall - start_wall
    result = {
        "label": options.label, "target": "grpc-h2load", "streams": options.streams,
        "descriptors_per_request": 1, "keys": 1, "seconds": round(options.duration, 3),
        "requests": done, "descriptors_per_s": round(rate, 1), "requests_per_s": round(rate, 1),
        "answered": answered, "errors": done - answered,
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
