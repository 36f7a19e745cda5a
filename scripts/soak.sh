#!/bin/sh
# The soak test, as long as you like: a three-node drld cluster on loopback under steady load,
# one node killed (SIGKILL) and restarted every DRL_SOAK_RESTART_EVERY_S seconds (default 60),
# round robin. It prints a sample line every few seconds (checks/s, p99 latency, each node's
# resident memory) and fails if memory or latency grow over the run, if the counts exceed the
# replication bound, or if the nodes disagree at the end (docs/operations.md, "Soak").
#
#   scripts/soak.sh              600 s (what suite 'slow' runs)
#   scripts/soak.sh 3600         an hour
#
# The default test suite runs a 40-second version (integration_soak).
set -eu

cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${1:-600}"
if ! setup_output=$(./scripts/setup.sh 2>&1); then
  echo "$setup_output" >&2
  exit 1
fi
BUILD_DIR="${DRL_BUILD_DIR:-build}"
ninja -C "$BUILD_DIR" src/drld src/drl tests/integration/test_integration_soak >/dev/null

DRLD="$(pwd)/$BUILD_DIR/src/drld" DRL="$(pwd)/$BUILD_DIR/src/drl" DRL_SOURCE_ROOT="$(pwd)" \
  DRL_SANITIZED=0 DRL_SOAK_SECONDS="$SECONDS_TO_RUN" \
  exec "$BUILD_DIR/tests/integration/test_integration_soak"
