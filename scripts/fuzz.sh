#!/bin/sh
# Runs the libFuzzer harnesses of tests/fuzz (docs/security.md, "Fuzzing"): builds them with
# clang-14, AddressSanitizer and UndefinedBehaviorSanitizer (installing clang-14 if it is missing
# and we are root), replays the regression inputs, then fuzzes each harness from its seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]            each harness for SECONDS (default 60)
#   scripts/fuzz.sh --runs N [--jobs J] [HARNESS...]  each harness for N executions in total,
#                                                     split over J processes (default 1)
#   scripts/fuzz.sh --runs N SECONDS [HARNESS...]     N executions, but stop after SECONDS
#   scripts/fuzz.sh --fast ...                        fuzz a UBSan-only build (about twice the
#       executions per second: no ASan shadow memory or malloc bookkeeping), then replay every
#       input of the grown corpus under the ASan+UBSan build, with leak detection. For long runs.
#
# Harnesses: client_request, cluster_datagram, config, state_file, and with the meson feature
# 'envoy' rls_request and rls_config (default: every one the build has).
# The corpus each run grows is kept in $DRL_FUZZ_WORK/corpus/<harness> (default
# build-fuzz/fuzz-work), so that runs build on each other. A crash, leak or timeout fails the
# run; the input is left in $DRL_FUZZ_WORK/artifacts/. To minimize and keep one:
#   build-fuzz/tests/fuzz/fuzz_<harness> -minimize_crash=1 -runs=100000 \
#     -exact_artifact_path=tests/fuzz/regressions/<harness>/<what_it_is> ARTIFACT
set -eu

cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_FUZZ_BUILD_DIR:-build-fuzz}"
WORK="${DRL_FUZZ_WORK:-$BUILD_DIR/fuzz-work}"
ALL_HARNESSES="client_request cluster_datagram config state_file"
ENVOY_HARNESSES="rls_request rls_config"  # built only with the meson feature 'envoy'

seconds=""
runs=""
jobs=1
fast=0
harnesses=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --fast) fast=1; shift ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    [0-9]*) seconds="$1"; shift ;;
    *) harnesses="$harnesses $1"; shift ;;
  esac
done

# clang-14 and its sanitizer and libFuzzer runtimes, from Debian.
missing=""
for package in clang-14 libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "drl fuzz: missing Debian packages:$missing (apt-get install$missing)" >&2
    exit 1
  fi
  echo "drl fuzz: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  CXX=clang++-14 meson setup "$BUILD_DIR" -Dfuzz=true -Db_sanitize=address,undefined \
    -Db_lundef=false >/dev/null
fi
# The Envoy harnesses exist when the build found gRPC, protobuf and yaml-cpp. (Regenerating
# build.ninja first: a build directory set up before a harness was added lists it then.)
ninja -C "$BUILD_DIR" build.ninja >/dev/null
built=$(ninja -C "$BUILD_DIR" -t targets all)
if [ -z "$harnesses" ]; then
  harnesses="$ALL_HARNESSES"
  for harness in $ENVOY_HARNESSES; do
    if echo "$built" | grep -q "^tests/fuzz/fuzz_$harness:"; then
      harnesses="$harnesses $harness"
    fi
  done
fi
targets=""
for harness in $harnesses; do
  if ! echo "$built" | grep -q "^tests/fuzz/fuzz_$harness:"; then
    echo "drl fuzz: no harness '$harness' in $BUILD_DIR (the rls_* ones need -Denvoy)" >&2
    exit 2
  fi
  targets="$targets tests/fuzz/fuzz_$harness"
done
ninja --quiet -C "$BUILD_DIR" $targets  # --quiet: compiler errors still show
# --fast: the same harnesses without ASan, in a build directory of their own.
FAST_BUILD_DIR="${BUILD_DIR}-ubsan"
if [ "$fast" -eq 1 ]; then
  if [ ! -f "$FAST_BUILD_DIR/build.ninja" ]; then
    CXX=clang++-14 meson setup "$FAST_BUILD_DIR" -Dfuzz=true -Db_sanitize=undefined \
      -Db_lundef=false >/dev/null
  fi
  ninja --quiet -C "$FAST_BUILD_DIR" $targets
fi

# A sanitizer report is a crash. A smaller quarantine than ASan's 256 MiB keeps the page faults
# of fresh memory from halving the execution rate; use-after-free is still caught within it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=32:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

source_root="$(pwd)"
problem_pattern='ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|runtime error:|invariant violated'
failed=0
for harness in $harnesses; do
  checked_binary="$source_root/$BUILD_DIR/tests/fuzz/fuzz_$harness"
  binary="$checked_binary"
  if [ "$fast" -eq 1 ]; then binary="$source_root/$FAST_BUILD_DIR/tests/fuzz/fuzz_$harness"; fi
  seeds="$source_root/tests/fuzz/corpus/$harness"
  regressions="$source_root/tests/fuzz/regressions/$harness"
  corpus="$WORK/corpus/$harness"
  logs="$WORK/logs/$harness"
  mkdir -p "$corpus" "$logs" "$WORK/artifacts"
  logs="$(cd "$logs" && pwd)"
  rm -f "$logs"/*.log
  corpus="$(cd "$corpus" && pwd)"
  artifacts="$(cd "$WORK/artifacts" && pwd)"

  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    if ! "$checked_binary" "$regressions"/* >"$logs/regressions.log" 2>&1; then
      echo "== fuzz $harness: a regression input fails again:"
      tail -n 40 "$logs/regressions.log"
      failed=1
      continue
    fi
  fi

  case "$harness" in
    config|rls_config) max_len=16384 ;;
    *) max_len=8192 ;;
  esac
  set -- -dict="$source_root/tests/fuzz/$harness.dict" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/$harness-"
  if [ -n "$runs" ]; then
    per_job=$(( (runs + jobs - 1) / jobs ))
    echo "== fuzz $harness: $runs executions in $jobs process(es)${seconds:+, at most ${seconds}s}"
    set -- "$@" -runs="$per_job"
    if [ -n "$seconds" ]; then set -- "$@" -max_total_time="$seconds"; fi
    if [ "$jobs" -gt 1 ]; then set -- "$@" -jobs="$jobs" -workers="$jobs"; fi
  else
    echo "== fuzz $harness: ${seconds:=60}s"
    set -- "$@" -max_total_time="$seconds"
  fi
  started=$(date +%s)
  status=0
  # With -jobs, libFuzzer writes fuzz-<n>.log in the current directory.
  (cd "$logs" && "$binary" "$@" "$corpus" "$seeds" >"$logs/fuzz.log" 2>&1) || status=$?
  elapsed=$(( $(date +%s) - started ))

  # With -jobs, the job logs hold the numbers (fuzz.log repeats them); else fuzz.log does.
  set -- "$logs/fuzz.log"
  if [ -n "$(ls "$logs" | grep '^fuzz-[0-9]*\.log$' || true)" ]; then set -- "$logs"/fuzz-*.log; fi
  executed=$(cat "$@" | sed -n 's/^stat::number_of_executed_units: *//p' |
    awk '{ sum += $1 } END { print sum + 0 }')
  coverage=$(cat "$@" | grep -E '^#[0-9]+.*(DONE|INITED|NEW|REDUCE|pulse).*cov:' |
    sed 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/\1 \2/' | sort -n -k2 | tail -n 1)
  problems=$(cat "$@" | grep -cE "$problem_pattern" || true)
  echo "   executions $executed in ${elapsed}s, coverage ${coverage:-?} (edges features)," \
    "corpus $(ls "$corpus" | wc -l) inputs, problems $problems"
  if [ "$fast" -eq 1 ]; then
    # What the UBSan-only build cannot see (memory errors, leaks), checked on every input the
    # run kept: -runs=0 executes the corpus once and stops.
    replay_started=$(date +%s)
    replay_status=0
    (cd "$logs" && "$checked_binary" -runs=0 -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$artifacts/$harness-" "$corpus" >"$logs/replay.log" 2>&1) ||
      replay_status=$?
    replay_problems=$(grep -cE "$problem_pattern" "$logs/replay.log" || true)
    echo "   replayed $(ls "$corpus" | wc -l) corpus inputs under ASan+UBSan in" \
      "$(( $(date +%s) - replay_started ))s, problems $replay_problems"
    if [ "$status" -eq 0 ]; then status=$replay_status; fi
    problems=$(( problems + replay_problems ))
    set -- "$@" "$logs/replay.log"
  fi
  if [ "$status" -ne 0 ] || [ "$problems" -ne 0 ]; then
    echo "== fuzz $harness FAILED (exit $status); artifacts in $artifacts:"
    grep -hE 'ERROR:|SUMMARY:|runtime error:|invariant violated|Test unit written' "$@" |
      head -n 20
    failed=1
  fi
done
exit "$failed"
