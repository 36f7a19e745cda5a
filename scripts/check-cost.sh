#!/bin/sh
# Instructions per in-process check, counted by callgrind: repeatable on a noisy machine, so
# that a change to the hot path shows up as a number. Prints the count and the top functions.
# Usage: scripts/check-cost.sh [sliding|fixed|hard]   (the policy checked; default sliding)
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"
if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
  echo "$(basename "$0"): valgrind is not installed (apt-get install valgrind, or scripts/setup.sh --with-tests)" >&2
  exit 1
fi
[ -x "$BUILD_DIR/tests/bench/check_cost" ] || ninja -C "$BUILD_DIR" tests/bench/check_cost >/dev/null
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
if ! valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg" \
  "$BUILD_DIR/tests/bench/check_cost" "${1:-sliding}" >"$OUT/stdout" 2>"$OUT/stderr"; then
  cat "$OUT/stdout" "$OUT/stderr" >&2
  exit 1
fi
CHECKS=$(sed -n 's/^checks \([0-9]*\).*/\1/p' "$OUT/stdout")
TOTAL=$(sed -n "s/^totals: *\([0-9]*\).*/\1/p" "$OUT/cg")
echo "instructions per check: $((TOTAL / CHECKS)) ($TOTAL instructions, $CHECKS checks)"
callgrind_annotate "$OUT/cg" 2>/dev/null | sed -n '/Ir .*file:function/,$p' | head -16 | tail -14
