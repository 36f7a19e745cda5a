#!/bin/sh
# The README's test command, and CI's (.ci/run). Builds drl (installing what is missing), then
# runs, printing how long each stage took:
#   1. the whole test suite in build/: unit, wire (with the fuzz corpus replays), io, public_api,
#      integration, sim: everything but the long 'slow' suite;
#   2. the same suite in build-asan/, everything (drld, drl, drl-sim, drl-bench, the tests) built
#      with AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer;
#   3. the concurrent parts in build-tsan/ under ThreadSanitizer: the store and the embedded
#      limiter from several threads, and drld (socket workers, main loop, cluster driver, HTTP
#      threads, reloads) in the integration tests of TSAN_TESTS below;
#   4. each libFuzzer harness for 20 s under ASan+UBSan (scripts/fuzz.sh).
# The sanitizer builds use clang-14 (installed if missing, as fuzz.sh does): g++ 12's UBSan makes
# an optimized build five times slower to compile, and an unoptimized one runs the simulator
# forty times slower. A report from any sanitized process fails the run, also one from a drld
# that its test then killed: every process writes its reports to DIR/sanitizer-reports, which
# must stay empty. Exit status 0 only if everything passed.
#
# The long runs: meson test -C build --suite slow   (docs/simulation.md, docs/replication.md)
# Options: --quick runs stage 1 only (the plain build and its suite, a few minutes: while
# changing code; CI and a finished change run everything). -h, --help prints this header.
set -eu

QUICK=0
case "${1:-}" in
  '') ;;
  --quick) QUICK=1 ;;
  -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
  *) echo "test.sh: no option '$1' (--help says what the script does)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"
ASAN_DIR="${BUILD_DIR}-asan"
TSAN_DIR="${BUILD_DIR}-tsan"

# drld with several threads at once, besides the two unit tests of the concurrent core.
TSAN_TESTS="core_counter_store_concurrency public_api_limiter
  integration_client_library integration_connection_limits integration_lifecycle
  integration_config_reload integration_http_metrics integration_http_keep_alive
  integration_cluster_replication integration_cluster_authentication integration_soak
  integration_dynamic_limits daemon_dynamic_limits"

# Stage timing, printed at the end (also when a stage fails).
timings=""
stage=""
stage_began=0
begin_stage() {
  stage="$1"
  stage_began=$(date +%s)
  echo "== $stage"
}
end_stage() {
  seconds=$(($(date +%s) - stage_began))
  timings="$timings$(printf '  %5d s  %s' "$seconds" "$stage")
"
  stage=""
}
print_timings() {
  [ -z "$stage" ] || end_stage
  printf '== time per stage:\n%s  %5d s  in all\n' "$timings" $(($(date +%s) - began))
}
began=$(date +%s)
trap print_timings EXIT

# clang-14 and its sanitizer runtimes, from Debian.
need_clang() {
  missing=""
  for package in clang-14 libclang-rt-14-dev; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing="$missing $package"
    fi
  done
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "drl test: missing Debian packages:$missing (apt-get install$missing)" >&2
    exit 1
  fi
  echo "drl test: installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Configures build directory $1 with clang-14 and the options that follow, unless it is already
# (one made by another compiler, e.g. g++ by an older version of this script, is made again).
setup_clang_dir() {
  dir="$1"
  shift
  if [ -f "$dir/build.ninja" ] && ! grep -q 'clang++-14' "$dir/build.ninja"; then
    rm -rf "$dir"
  fi
  if [ ! -f "$dir/build.ninja" ]; then
    CXX=clang++-14 meson setup "$dir" -Dbuildtype=debugoptimized -Db_lundef=false "$@" >/dev/null
  fi
}

# An empty directory for the sanitizer reports of build directory $1; prints its absolute path.
fresh_reports() {
  reports="$(pwd)/$1/sanitizer-reports"
  rm -rf "$reports"
  mkdir -p "$reports"
  echo "$reports"
}

# Fails, printing them, if any sanitized process left a report in directory $1.
check_reports() {
  found=0
  for report in "$1"/*; do
    [ -f "$report" ] || continue
    echo "== sanitizer report $report:" >&2
    cat "$report" >&2
    found=1
  done
  return "$found"
}

begin_stage "setup and build ($BUILD_DIR)"
./scripts/setup.sh --with-tests
end_stage

begin_stage "test suite ($BUILD_DIR)"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --no-suite slow
end_stage
if [ "$QUICK" -eq 1 ]; then
  echo "== quick run: the plain suite passed (the sanitizer stages and fuzzing did not run)"
  exit 0
fi

begin_stage "AddressSanitizer + UndefinedBehaviorSanitizer build ($ASAN_DIR)"
need_clang
setup_clang_dir "$ASAN_DIR" -Db_sanitize=address,undefined
ninja --quiet -C "$ASAN_DIR"
end_stage

begin_stage "test suite under AddressSanitizer + UndefinedBehaviorSanitizer ($ASAN_DIR)"
reports="$(fresh_reports "$ASAN_DIR")"
status=0
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan" \
  meson test -C "$ASAN_DIR" --no-rebuild --print-errorlogs --num-processes 2 --no-suite slow \
  --timeout-multiplier 3 || status=$?
check_reports "$reports" || status=1
[ "$status" -eq 0 ] || exit "$status"
end_stage

begin_stage "ThreadSanitizer build ($TSAN_DIR)"
setup_clang_dir "$TSAN_DIR" -Db_sanitize=thread
targets="src/drld src/drl"
for test in $TSAN_TESTS; do
  case "$test" in
    integration_*) targets="$targets tests/integration/test_$test" ;;
    *) targets="$targets tests/test_$test" ;;
  esac
done
ninja --quiet -C "$TSAN_DIR" $targets
end_stage

begin_stage "concurrent tests under ThreadSanitizer ($TSAN_DIR)"
reports="$(fresh_reports "$TSAN_DIR")"
status=0
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 log_path=$reports/tsan" \
  meson test -C "$TSAN_DIR" --no-rebuild --print-errorlogs --num-processes 2 \
  --timeout-multiplier 3 $TSAN_TESTS || status=$?
check_reports "$reports" || status=1
[ "$status" -eq 0 ] || exit "$status"
end_stage

# libFuzzer, briefly: each harness of tests/fuzz for 20 s from its seeds (plus the corpus that
# earlier runs kept), under ASan and UBSan with clang-14 (installed by fuzz.sh if missing), after
# replaying the regression inputs. The long runs: docs/security.md, "Fuzzing".
begin_stage "fuzzing, 20 s per harness"
DRL_FUZZ_BUILD_DIR="${DRL_FUZZ_BUILD_DIR:-${BUILD_DIR}-fuzz}" ./scripts/fuzz.sh 20
end_stage

echo "== all tests passed"
