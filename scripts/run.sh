#!/bin/sh
# Builds drl (installing what is missing) and runs drld in the foreground with its embedded
# default configuration: one node, socket /run/drl/drld.sock, policies "demo" and "api".
# Stop it with Ctrl-C.
set -eu

cd "$(dirname "$0")/.."
./scripts/setup.sh
BUILD_DIR="${DRL_BUILD_DIR:-build}"
SOCKET=/run/drl/drld.sock

cat <<HELP

drld is starting on $SOCKET with the embedded default config
($BUILD_DIR/src/drld --print-default-config shows it). Try it from another terminal:

  $BUILD_DIR/src/drl check --policy demo --key alice            # 5 per 10 s: allowed ...
  $BUILD_DIR/src/drl check --policy demo --key alice --repeat 6 # ... then denied, with retry_after
  $BUILD_DIR/src/drl check --policy demo --key alice --json
  $BUILD_DIR/src/drl status

HELP
exec "$BUILD_DIR/src/drld" --socket "$SOCKET" "$@"
