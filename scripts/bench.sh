#!/bin/sh
# drl-bench side by side: drld, Redis running the usual Lua limiter scripts, and an echo server
# (the floor), all on Unix sockets on this machine, measured in the same run and interleaved.
# Prints a table of medians and the drl/Redis and drl/echo ratios, then memory per key.
# docs/benchmarks.md explains the workloads, the scripts and how to read the numbers.
#
#   scripts/bench.sh                 throughput and latency, then memory per key
#   scripts/bench.sh --quick         1 s runs, one repeat (a smoke run, not for the docs)
#   scripts/bench.sh --no-memory     skip memory per key
#   scripts/bench.sh --memory-only   only memory per key
#
# Environment: BENCH_DURATION (5s), BENCH_WARMUP (1s), BENCH_REPEATS (3), BENCH_KEYS (100000),
# BENCH_RATE (open-loop requests per second, 20000), MEMORY_KEYS (1000000),
# DRL_BUILD_DIR (build), BENCH_OUT (a directory to keep the raw JSON lines and logs in).
#
# Every process it starts is stopped at the end, on failure and on Ctrl-C.
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUN_LOAD=1
RUN_MEMORY=1
DURATION="${BENCH_DURATION:-5s}"
WARMUP="${BENCH_WARMUP:-1s}"
REPEATS="${BENCH_REPEATS:-3}"
for arg in "$@"; do
  case "$arg" in
    --quick) DURATION=1s; WARMUP=300ms; REPEATS=1 ;;
    --no-memory) RUN_MEMORY=0 ;;
    --memory-only) RUN_LOAD=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done
KEYS="${BENCH_KEYS:-100000}"
RATE="${BENCH_RATE:-20000}"
MEMORY_KEYS="${MEMORY_KEYS:-1000000}"

if ! setup_output=$(./scripts/setup.sh --with-tests 2>&1); then
  echo "$setup_output" >&2
  exit 1
fi
BUILD_DIR="${DRL_BUILD_DIR:-build}"
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
ninja -C "$BUILD_DIR" src/drld src/drl src/drl-bench >/dev/null
DRLD="$BUILD_DIR/src/drld"
DRL="$BUILD_DIR/src/drl"
BENCH="$BUILD_DIR/src/drl-bench"
PYTHON=/usr/bin/python3
command -v redis-server >/dev/null || { echo "bench.sh: redis-server is missing" >&2; exit 1; }

WORK=$(mktemp -d /tmp/drl-bench.XXXXXX)
PIDS=""
cleanup() {
  trap - EXIT INT TERM HUP PIPE
  for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
  for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
  if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT"
    cp "$WORK"/*.jsonl "$WORK"/*.log "$BENCH_OUT"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench.sh: interrupted" >&2; exit 130' INT TERM HUP PIPE

# started NAME COMMAND...: runs it in the background, logging to $WORK/NAME.log; sets $LAST_PID.
started() {
  name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS="$PIDS $LAST_PID"
}

# stop PID: stops one process this script started.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  remaining=""
  for pid in $PIDS; do [ "$pid" = "$1" ] || remaining="$remaining $pid"; done
  PIDS=$remaining
}

# wait_ready TARGET SOCKET NAME: until the server answers (10 s at most).
wait_ready() {
  tries=0
  while :; do
    if [ "$1" = echo ]; then
      [ -S "$2" ] && return 0
    elif "$BENCH" --target "$1" --socket "$2" --report-memory >/dev/null 2>&1; then
      return 0
    fi
    tries=$((tries + 1))
    if [ "$tries" -gt 200 ]; then
      echo "bench.sh: $3 did not come up; its log:" >&2
      cat "$WORK/$3.log" >&2
      exit 1
    fi
    sleep 0.05
  done
}

start_redis() {  # NAME
  started "$1" redis-server --save '' --appendonly no --port 0 --unixsocket "$WORK/$1.sock" \
    --unixsocketperm 700 --dir "$WORK" --daemonize no
  wait_ready redis-fixed "$WORK/$1.sock" "$1"
}

echo "== machine"
printf '%s, %s CPUs, %s, load average %s\n' \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" "$(nproc)" \
  "$(uname -srm)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'drl %s (%s)\n' "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
  "$(git status --porcelain 2>/dev/null | grep -q . && echo 'working tree modified' || echo clean)"
redis-server --version

# ---------------------------------------------------------------------------------------------
# Throughput and latency
# ---------------------------------------------------------------------------------------------
if [ "$RUN_LOAD" = 1 ]; then
  started drld "$DRLD" --config config/bench/drld-bench.toml --socket "$WORK/drld.sock"
  DRLD_PID=$LAST_PID
  wait_ready drl "$WORK/drld.sock" drld
  start_redis redis
  started echo "$BENCH" --echo-server "$WORK/echo.sock"
  ECHO_PID=$LAST_PID
  wait_ready echo "$WORK/echo.sock" echo
  : "$DRLD_PID"

  RESULTS="$WORK/load.jsonl"
  : >"$RESULTS"

  # run WORKLOAD REPEAT TARGET [drl-bench options]: one run, its JSON line appended to $RESULTS.
  run() {
    workload=$1
    repeat=$2
    target=$3
    shift 3
    case "$target" in
      echo) set -- --target echo --socket "$WORK/echo.sock" --server-pid "$ECHO_PID" "$@" ;;
      drl-fixed) set -- --target drl --socket "$WORK/drld.sock" --policy "${POLICY_PREFIX}fixed" "$@" ;;
      drl-sliding) set -- --target drl --socket "$WORK/drld.sock" --policy "${POLICY_PREFIX}sliding" "$@" ;;
      redis-fixed) set -- --target redis-fixed --socket "$WORK/redis.sock" --limit "$LIMIT" "$@" ;;
      redis-sliding) set -- --target redis-sliding --socket "$WORK/redis.sock" --limit "$LIMIT" "$@" ;;
    esac
    line=$("$BENCH" "$@" --window 1m --duration "$DURATION" --warmup "$WARMUP" --json \
      --label "$workload|$target|$repeat") || {
      echo "bench.sh: drl-bench failed: $workload $target" >&2
      exit 1
    }
    echo "$line" >>"$RESULTS"
    printf '  %-14s %-14s #%s %12s checks/s  p50 %8s us  p99 %8s us\n' "$workload" "$target" \
      "$repeat" "$(echo "$line" | sed 's/.*"checks_per_s":\([0-9.]*\).*/\1/')" \
      "$(echo "$line" | sed 's/.*"latency_p50_us":\([0-9.]*\).*/\1/')" \
      "$(echo "$line" | sed 's/.*"latency_p99_us":\([0-9.]*\).*/\1/')"
  }

  # workload NAME TARGETS -- drl-bench options: REPEATS rounds, each over all TARGETS in turn.
  workload() {
    name=$1
    targets=$2
    shift 3
    repeat=1
    while [ "$repeat" -le "$REPEATS" ]; do
      for target in $targets; do run "$name" "$repeat" "$target" "$@"; done
      repeat=$((repeat + 1))
    done
  }

  ALL="echo drl-fixed drl-sliding redis-fixed redis-sliding"
  echo "== throughput and latency: $DURATION per run after $WARMUP of warm-up, $REPEATS rounds"
  POLICY_PREFIX=bench-
  LIMIT=1000000000
  workload 50x16 "$ALL" -- --connections 50 --inflight 16 --keys "$KEYS"
  workload 50x1 "$ALL" -- --connections 50 --inflight 1 --keys "$KEYS"
  workload 1x1 "$ALL" -- --connections 1 --inflight 1 --keys "$KEYS"
  workload "open-$RATE" "$ALL" -- --connections 10 --inflight 64 --rate "$RATE" --keys "$KEYS"
  workload 50x4-batch16 "echo drl-fixed drl-sliding" -- --connections 50 --inflight 4 --batch 16 \
    --keys "$KEYS"
  workload 50x16-zipf "$ALL" -- --connections 50 --inflight 16 --keys "$KEYS" \
    --distribution zipf
  POLICY_PREFIX=tight-
  LIMIT=10
  workload 50x16-denied "$ALL" -- --connections 50 --inflight 16 --keys 1000 --key-prefix tight:

  echo
  "$PYTHON" - "$RESULTS" <<'PY'
import json, statistics, sys

runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
table = {}
for run in runs:
    workload, target, _ = run["label"].split("|")
    table.setdefault(workload, {}).setdefault(target, []).append(run)
targets = ["echo", "drl-fixed", "drl-sliding", "redis-fixed", "redis-sliding"]

def median(workload, target, field):
    values = [run[field] for run in table[workload].get(target, [])]
    return statistics.median(values) if values else None

def number(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"

def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"

print("Checks per second (median of the rounds; a batch of 16 counts 16 checks)\n")
print("| workload | echo (floor) | drl fixed | drl sliding | Redis fixed | Redis sliding "
      "| drl/Redis fixed | drl/Redis sliding | drl fixed/echo |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for workload, row in table.items():
    values = {t: median(workload, t, "checks_per_s") for t in targets}
    print(f"| {workload} | " + " | ".join(number(values[t]) for t in targets) + " | "
          + ratio(values["drl-fixed"], values["redis-fixed"]) + " | "
          + ratio(values["drl-sliding"], values["redis-sliding"]) + " | "
          + ratio(values["drl-fixed"], values["echo"]) + " |")

print("\nLatency p50 / p99 / p99.9 in microseconds (medians of the rounds)\n")
print("| workload | echo (floor) | drl fixed | drl sliding | Redis fixed | Redis sliding "
      "| drl fixed p50/echo p50 |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for workload in table:
    cells = []
    for t in targets:
        p = [median(workload, t, f) for f in ("latency_p50_us", "latency_p99_us", "latency_p999_us")]
        cells.append("-" if p[0] is None else " / ".join(number(v) for v in p))
    print(f"| {workload} | " + " | ".join(cells) + " | "
          + ratio(median(workload, "drl-fixed", "latency_p50_us"),
                  median(workload, "echo", "latency_p50_us")) + " |")

print("\nCPU: server us per check, and client / server % of a core (medians)\n")
print("| workload | " + " | ".join(targets) + " |")
print("| --- |" + " ---: |" * len(targets))
for workload in table:
    cells = []
    for t in targets:
        per = median(workload, t, "server_cpu_us_per_check")
        client = median(workload, t, "client_cpu_percent")
        server = median(workload, t, "server_cpu_percent")
        cells.append("-" if per is None else f"{per:.2f} us ({client:.0f}% / {server:.0f}%)")
    print(f"| {workload} | " + " | ".join(cells) + " |")

denied = {t: (median("50x16-denied", t, "denied"), median("50x16-denied", t, "checks"))
          for t in targets[1:] if "50x16-denied" in table}
if denied:
    print("\nDenied share in 50x16-denied: " + ", ".join(
        f"{t} {100 * d / c:.1f}%" for t, (d, c) in denied.items() if c))
PY
  printf '\nload average after the runs: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  stop "$ECHO_PID"
  stop "$DRLD_PID"
fi

# ---------------------------------------------------------------------------------------------
# Memory per tracked key
# ---------------------------------------------------------------------------------------------
if [ "$RUN_MEMORY" = 1 ]; then
  echo
  echo "== memory per key: $MEMORY_KEYS keys, each checked once"
  MEMORY="$WORK/memory.jsonl"
  : >"$MEMORY"
  FILL="--fill-keys $MEMORY_KEYS --connections 4 --inflight 8 --json"

  # One origin: a fresh drld per store bound.
  for max_keys in 1000000 1100000 2000000; do
    sed "s/^max_keys = .*/max_keys = $max_keys/" config/bench/drld-memory.toml \
      >"$WORK/memory-$max_keys.toml"
    started "drld-memory-$max_keys" "$DRLD" --config "$WORK/memory-$max_keys.toml" \
      --socket "$WORK/memory.sock"
    pid=$LAST_PID
    wait_ready drl "$WORK/memory.sock" "drld-memory-$max_keys"
    # shellcheck disable=SC2086
    "$BENCH" --target drl --socket "$WORK/memory.sock" --policy memory $FILL --batch 100 \
      --label "drl, 1 origin, max_keys $max_keys" >>"$MEMORY"
    stop "$pid"
  done

  # Redis: the same keys through the fixed-window script (window 1 h, so that none expires).
  for script in fixed sliding; do
    start_redis "redis-memory-$script"
    pid=$LAST_PID
    # shellcheck disable=SC2086
    "$BENCH" --target "redis-$script" --socket "$WORK/redis-memory-$script.sock" --window 1h \
      $FILL --label "Redis, $script window script" >>"$MEMORY"
    stop "$pid"
  done

  # Three origins: 3 drld on loopback; every key is checked once on each node, so that every
  # node holds every key with three origins' slots.
  BASE_PORT=$((20000 + $$ % 20000))
  PEERS="\"127.0.0.1:$BASE_PORT\", \"127.0.0.1:$((BASE_PORT + 1))\", \"127.0.0.1:$((BASE_PORT + 2))\""
  CLUSTER_PIDS=""
  for node in 1 2 3; do
    {
      sed "s/^max_keys = .*/max_keys = 1100000/; s/^id = .*/id = \"memory$node\"/" \
        config/bench/drld-memory.toml
      cat <<TOML

[cluster]
bind = "127.0.0.1:$((BASE_PORT + node - 1))"
peers = [$PEERS]
gossip_interval = "5ms"
# Anti-entropy fast enough to carry a million keys in seconds (the default would take
# minutes): the memory held at the end does not depend on how the counts got there.
repair_interval = "10ms"
repair_updates_per_interval = 100000
TOML
    } >"$WORK/cluster$node.toml"
    started "drld-cluster$node" "$DRLD" --config "$WORK/cluster$node.toml" \
      --socket "$WORK/cluster$node.sock"
    CLUSTER_PIDS="$CLUSTER_PIDS $LAST_PID"
  done
  for node in 1 2 3; do wait_ready drl "$WORK/cluster$node.sock" "drld-cluster$node"; done
  sleep 1
  for node in 1 2 3; do
    "$BENCH" --target drl --socket "$WORK/cluster$node.sock" --report-memory \
      --label "before$node" >"$WORK/cluster-before$node.json"
  done
  for node in 1 2 3; do
    # shellcheck disable=SC2086
    "$BENCH" --target drl --socket "$WORK/cluster$node.sock" --policy memory $FILL --batch 100 \
      --label "cluster fill on node $node" >"$WORK/cluster-fill$node.json"
  done
  # Settled when no node's store changes any more (the same keys and memory over 3 s); the
  # updates received never settle, since anti-entropy keeps resending.
  previous=""
  stable=0
  tries=0
  while [ "$stable" -lt 3 ] && [ "$tries" -lt 180 ]; do
    sleep 1
    now=""
    for node in 1 2 3; do
      status=$("$DRL" status --socket "$WORK/cluster$node.sock" --json)
      now="$now $(echo "$status" | sed 's/.*"keys_tracked":\([0-9]*\).*/\1/')"
      now="$now/$(echo "$status" | sed 's/.*"store_memory_bytes":\([0-9]*\).*/\1/')"
    done
    if [ "$now" = "$previous" ]; then stable=$((stable + 1)); else stable=0; fi
    previous=$now
    tries=$((tries + 1))
  done
  for node in 1 2 3; do
    "$BENCH" --target drl --socket "$WORK/cluster$node.sock" --report-memory \
      --label "after$node" >"$WORK/cluster-after$node.json"
    "$DRL" inspect --socket "$WORK/cluster$node.sock" --policy memory --key k123456 --json \
      >"$WORK/cluster-inspect$node.json" || true
  done
  for pid in $CLUSTER_PIDS; do stop "$pid"; done

  "$PYTHON" - "$MEMORY" "$WORK" <<'PY'
import json, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("\n| store | keys gained | server's figure, bytes/key | RSS growth, bytes/key |")
print("| --- | ---: | ---: | ---: |")
for row in rows:
    gained = row["keys_after"] - row["keys_before"]
    print(f"| {row['label']} | {gained:,} | {row['memory_bytes_per_key']:.1f} "
          f"| {row['rss_bytes_per_key']:.1f} |")
work = sys.argv[2]
for node in (1, 2, 3):
    before = json.load(open(f"{work}/cluster-before{node}.json"))
    after = json.load(open(f"{work}/cluster-after{node}.json"))
    gained = after["keys"] - before["keys"]
    memory = (after["memory_bytes"] - before["memory_bytes"]) / max(gained, 1)
    rss = (after["rss_bytes"] - before["rss_bytes"]) / max(gained, 1)
    try:
        inspect = json.load(open(f"{work}/cluster-inspect{node}.json"))
        origins = len(inspect[0]["origins"]) if isinstance(inspect, list) else len(
            inspect["counters"][0]["origins"])
    except Exception:
        origins = "?"
    print(f"| drl, 3 origins, node {node} (k123456 has {origins} origin slots) | {gained:,} "
          f"| {memory:.1f} | {rss:.1f} |")
PY
fi
