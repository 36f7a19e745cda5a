#!/bin/bash
# Instructions per check inside drld, counted by callgrind while drl-bench loads it: the whole
# path of a check through the daemon (read, decode, check, answer, write), repeatable on a
# noisy machine where checks/s move by several percent between runs. Policies of
# config/bench/drld-bench.toml, measured one after the other, each in a drld of its own.
# Usage: scripts/drld-check-cost.sh POLICY...   (e.g. bench-fixed-1s bench-hard-1s)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  echo "$(basename "$0"): valgrind is not installed (apt-get install valgrind, or scripts/setup.sh --with-tests)" >&2
  exit 1
fi
[ $# -gt 0 ] || { echo "usage: $0 POLICY..." >&2; exit 2; }
OUT=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT
bench() {
  "$BUILD_DIR/src/drl-bench" --socket "$OUT/drld.sock" --policy "$1" --connections 2 \
    --inflight 16 --keys 10000 --duration "$2" --warmup 0s
}
for policy in "$@"; do
  rm -f "$OUT/drld.sock" "$OUT/cg"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg" \
    "$BUILD_DIR/src/drld" --config config/bench/drld-bench.toml --socket "$OUT/drld.sock" \
    >"$OUT/drld.log" 2>&1 &
  PID=$!
  for _ in $(seq 150); do [ -S "$OUT/drld.sock" ] && break; sleep 0.2; done
  # A hard limit has no share in drld's first window, nor before clock_skew_max (1 s).
  sleep 3
  bench "$policy" 2s >/dev/null  # warm-up: every key in the store
  callgrind_control -i on "$PID" >/dev/null 2>&1
  RESULT=$(bench "$policy" 10s | grep 'checks/s')
  callgrind_control -i off "$PID" >/dev/null 2>&1
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  CHECKS=$(echo "$RESULT" | sed -n 's/.*allowed \([0-9]*\), denied \([0-9]*\).*/\1 \2/p' |
    awk '{print $1 + $2}')
  TOTAL=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$OUT/cg")
  echo "$policy: $((TOTAL / CHECKS)) instructions per check in drld ($TOTAL instructions, $CHECKS checks)"
done
