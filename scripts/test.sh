#!/bin/sh
# Builds drl (installing what is missing) and runs the whole test suite (unit, wire,
# public_api, integration, sim: everything but the long 'slow' suite), then the concurrent
# tests again under ThreadSanitizer, then each libFuzzer harness for 20 s under ASan+UBSan
# (clang-14, installed if missing). Exit status 0 only if everything passed.
#
# The long runs: meson test -C build --suite slow   (docs/simulation.md, docs/replication.md)
set -eu

cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR="${DRL_BUILD_DIR:-build}"

echo "== test suite ($BUILD_DIR)"
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --no-suite slow

# ThreadSanitizer: the store and the embedded limiter from several threads.
TSAN_DIR="${BUILD_DIR}-tsan"
if [ ! -f "$TSAN_DIR/build.ninja" ]; then
  meson setup "$TSAN_DIR" -Db_sanitize=thread -Dbuildtype=debug >/dev/null
fi
echo "== ThreadSanitizer ($TSAN_DIR)"
ninja -C "$TSAN_DIR" tests/test_core_counter_store_concurrency tests/test_public_api_limiter >/dev/null
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  meson test -C "$TSAN_DIR" --no-rebuild --print-errorlogs \
  core_counter_store_concurrency public_api_limiter
# libFuzzer, briefly: each harness of tests/fuzz for 20 s from its seeds (plus the corpus that
# earlier runs kept), under ASan and UBSan with clang-14 (installed by fuzz.sh if missing), after
# replaying the regression inputs. The long runs: docs/security.md, "Fuzzing".
echo "== fuzzing, 20 s per harness"
DRL_FUZZ_BUILD_DIR="${DRL_FUZZ_BUILD_DIR:-${BUILD_DIR}-fuzz}" ./scripts/fuzz.sh 20
echo "== all tests passed"
