#!/bin/sh
# Envoy's rate limit service over gRPC against drl's Unix socket, in the same run, on the same
# drld: rls_load (tests/bench/rls_load.cpp) calls ShouldRateLimit on [envoy] listen (loopback),
# drl-bench checks on the Unix socket, the same keys (k0 .. k99999, uniform), the same limit
# (a fixed window of a minute with room for every check), interleaved round by round.
# docs/benchmarks.md ("Envoy's rate limit service over gRPC") explains and records the numbers.
#
#   scripts/bench-envoy.sh           5 s runs after 1 s of warm-up, 3 rounds
#   scripts/bench-envoy.sh --quick   1 s runs, one round (a smoke run, not for the docs)
#
# Workloads, each on the paths where it exists:
#   50          50 calls in flight (gRPC: 50 streams on one HTTP/2 connection; Unix socket:
#               50 connections x 1 in flight), one descriptor per request: the issue's target;
#               over gRPC from two clients: rls_load (grpc++, path grpc) and h2load (nghttp2,
#               path grpc-h2load, scripts/bench_h2load.py: one key, as it sends one body)
#   1           one call at a time: the latency floor of each path
#   50x4desc    gRPC only: 50 streams, 4 descriptors per request (one compound decision)
#
# Environment: BENCH_DURATION (5s), BENCH_WARMUP (1s), BENCH_REPEATS (3), BENCH_KEYS (100000),
# DRL_BUILD_DIR (build, configured with the meson feature 'envoy'), BENCH_OUT (a directory to
# keep the JSON lines and drld's log in). Every process it starts is stopped at the end.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

DURATION="${BENCH_DURATION:-5s}"
WARMUP="${BENCH_WARMUP:-1s}"
REPEATS="${BENCH_REPEATS:-3}"
for arg in "$@"; do
  case "$arg" in
    --quick) DURATION=1s; WARMUP=300ms; REPEATS=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-envoy.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
KEYS="${BENCH_KEYS:-100000}"

BUILD_DIR="${DRL_BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
if ! ninja -C "$BUILD_DIR" -t targets all | grep -q '^tests/bench/rls_load:'; then
  echo "bench-envoy.sh: $BUILD_DIR has no Envoy support (meson configure $BUILD_DIR -Denvoy=enabled)" >&2
  exit 1
fi
if ! command -v h2load >/dev/null; then
  echo "bench-envoy.sh: h2load is missing: apt-get install nghttp2-client (scripts/setup.sh --with-tests)" >&2
  exit 1
fi
ninja -C "$BUILD_DIR" src/drld src/drl src/drl-bench tests/bench/rls_load >/dev/null
DRLD="$BUILD_DIR/src/drld"
BENCH="$BUILD_DIR/src/drl-bench"
RLS_LOAD="$BUILD_DIR/tests/bench/rls_load"
PYTHON=/usr/bin/python3

WORK=$(mktemp -d /tmp/drl-bench-envoy.XXXXXX)
DRLD_PID=""
cleanup() {
  trap - EXIT INT TERM HUP PIPE
  if [ -n "$DRLD_PID" ]; then
    kill "$DRLD_PID" 2>/dev/null || true
    wait "$DRLD_PID" 2>/dev/null || true
  fi
  if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT"
    cp "$WORK"/*.jsonl "$WORK"/*.log "$WORK"/*.toml "$BENCH_OUT"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench-envoy.sh: interrupted" >&2; exit 130' INT TERM HUP PIPE

# drld: scripts/bench.sh's configuration (two workers, the bench-fixed policy), plus [envoy] with
# one domain whose descriptor counts like bench-fixed: each value on its own, a fixed window of
# a minute, a limit no run reaches.
PORT=$((20000 + $$ % 20000))
mkdir "$WORK/envoy"
cat >"$WORK/envoy/bench.yaml" <<'YAML'
domain: bench
descriptors:
  - key: key
    rate_limit:
      unit: minute
      requests_per_unit: 1000000000
YAML
{
  cat config/bench/drld-bench.toml
  cat <<TOML

[envoy]
listen = "127.0.0.1:$PORT"
config_dir = "$WORK/envoy"
TOML
} >"$WORK/drld-bench-envoy.toml"
"$DRLD" --config "$WORK/drld-bench-envoy.toml" --socket "$WORK/drld.sock" >"$WORK/drld.log" 2>&1 &
DRLD_PID=$!
tries=0
until "$BENCH" --target drl --socket "$WORK/drld.sock" --report-memory >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 200 ] || ! kill -0 "$DRLD_PID" 2>/dev/null; then
    echo "bench-envoy.sh: drld did not come up; its log:" >&2
    cat "$WORK/drld.log" >&2
    exit 1
  fi
  sleep 0.05
done

echo "== machine"
printf '%s, %s CPUs, %s, load average %s\n' \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(nproc)" \
  "$(uname -srm)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'drl %s (%s)\n' "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "$(git status --porcelain 2>/dev/null | grep -q . && echo 'working tree modified' || echo clean)"

RESULTS="$WORK/envoy.jsonl"
: >"$RESULTS"

# run WORKLOAD REPEAT PATH [options]: one run, its JSON line appended to $RESULTS.
run() {
  workload=$1
  repeat=$2
  path=$3
  shift 3
  case "$path" in
    unix) set -- "$BENCH" --target drl --socket "$WORK/drld.sock" --policy bench-fixed \
      --keys "$KEYS" "$@" ;;
    grpc) set -- "$RLS_LOAD" --target "127.0.0.1:$PORT" --domain bench --key-name key \
      --keys "$KEYS" "$@" ;;
    grpc-h2load) set -- "$PYTHON" "$ROOT/scripts/bench_h2load.py" --target "127.0.0.1:$PORT" \
      --domain bench --key-name key --drl "$BUILD_DIR/src/drl" --socket "$WORK/drld.sock" "$@" ;;
  esac
  line=$("$@" --server-pid "$DRLD_PID" --duration "$DURATION" --warmup "$WARMUP" --json \
    --label "$workload|$path|$repeat") || {
    echo "bench-envoy.sh: the load failed: $workload $path" >&2
    exit 1
  }
  echo "$line" >>"$RESULTS"
  printf '  %-9s %-5s #%s %10s descriptors/s  p50 %8s us  p99 %8s us\n' "$workload" "$path" \
    "$repeat" \
    "$(echo "$line" | sed 's/.*"\(checks\|descriptors\)_per_s":\([0-9.]*\).*/\2/')" \
    "$(echo "$line" | sed 's/.*"latency_p50_us":\([0-9.]*\).*/\1/')" \
    "$(echo "$line" | sed 's/.*"latency_p99_us":\([0-9.]*\).*/\1/')"
}

echo "== gRPC and Unix socket: $DURATION per run after $WARMUP of warm-up, $REPEATS rounds"
repeat=1
while [ "$repeat" -le "$REPEATS" ]; do
  run 50 "$repeat" unix --connections 50 --inflight 1
  run 50 "$repeat" grpc --streams 50
  run 50 "$repeat" grpc-h2load --streams 50
  run 1 "$repeat" unix --connections 1 --inflight 1
  run 1 "$repeat" grpc --streams 1
  run 50x4desc "$repeat" grpc --streams 50 --descriptors 4
  repeat=$((repeat + 1))
done
printf '\nload average after the runs: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

echo
"$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
table = {}
for run in runs:
    workload, path, _ = run["label"].split("|")
    run["rate"] = run.get("descriptors_per_s", run.get("checks_per_s"))
    run["cpu_us"] = run.get("server_cpu_us_per_descriptor", run.get("server_cpu_us_per_check"))
    table.setdefault(workload, {}).setdefault(path, []).append(run)

def median(workload, path, field):
    values = [run[field] for run in table.get(workload, {}).get(path, []) if run.get(field) is not None]
    return statistics.median(values) if values else None

def number(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"

print("Medians of the rounds. Descriptors/s: a Unix-socket check is one descriptor.\n")
print("| workload | path | descriptors/s | p50 us | p99 us | p99.9 us | server us/descriptor "
      "| client / server % of a core |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
for workload, paths in table.items():
    for path in ("unix", "grpc", "grpc-h2load"):
        if path not in paths:
            continue
        cells = [number(median(workload, path, "rate")),
                 number(median(workload, path, "latency_p50_us"), 1),
                 number(median(workload, path, "latency_p99_us"), 1),
                 number(median(workload, path, "latency_p999_us"), 1),
                 number(median(workload, path, "cpu_us"), 2),
                 f"{number(median(workload, path, 'client_cpu_percent'))} / "
                 f"{number(median(workload, path, 'server_cpu_percent'))}"]
        print(f"| {workload} | {path} | " + " | ".join(cells) + " |")

print("\nTargets (docs/benchmarks.md):")
p50_unix = median("50", "unix", "latency_p50_us")
for path in ("grpc", "grpc-h2load"):
    p50_grpc = median("50", path, "latency_p50_us")
    print(f"  50 in flight: {path} p50 {number(p50_grpc, 1)} us / Unix-socket p50 "
          f"{number(p50_unix, 1)} us = {ratio(p50_grpc, p50_unix)} (target: at most 3)")
p50_grpc1 = median("1", "grpc", "latency_p50_us")
p50_unix1 = median("1", "unix", "latency_p50_us")
print(f"  1 in flight:  gRPC p50 {number(p50_grpc1, 1)} us / Unix-socket p50 "
      f"{number(p50_unix1, 1)} us = {ratio(p50_grpc1, p50_unix1)}")
for workload, path in (("50", "grpc"), ("50", "grpc-h2load"), ("50x4desc", "grpc")):
    rates = [run["rate"] for run in table.get(workload, {}).get(path, [])]
    if rates:
        print(f"  {workload} {path}: {number(median(workload, path, 'rate'))} descriptors/s, "
              f"rounds {number(min(rates))} to {number(max(rates))} (target: at least 50,000)")
for workload, paths in table.items():
    for path, rows in paths.items():
        errors = sum(run.get("errors", 0) for run in rows)
        if errors:
            print(f"  {workload} {path}: {errors} errors")
print("\nPer round (p50 us, descriptors/s):")
for workload, paths in table.items():
    for path, rows in paths.items():
        print(f"  {workload} {path}: " + ", ".join(
            f"{run['latency_p50_us']:.1f} / {run['rate']:,.0f}" for run in rows))
PY
