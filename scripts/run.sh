#!/bin/sh
# Builds drl (installing what is missing) and runs it in the foreground. Stop with Ctrl-C.
#
#   scripts/run.sh               one drld with the embedded default config,
#                                socket RUN_DIR/drld.sock, policies "demo" and "api"
#   scripts/run.sh --cluster 3   a local cluster of 3 drld on loopback (UDP 7101..7103),
#                                sockets RUN_DIR/node1.sock .. node3.sock
#
# RUN_DIR is $DRL_RUN_DIR if set, else /run/drl as root, else $XDG_RUNTIME_DIR/drl (or
# /tmp/drl-USER): a second instance, or a user without root, sets DRL_RUN_DIR (and, for a
# second cluster, DRL_PORT_BASE: nodes use UDP DRL_PORT_BASE+1 .., default 7100).
set -eu

case "${1:-}" in
  -h|--help|help)
    # The comment at the top of this file is its usage.
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0 ;;
esac

cd "$(dirname "$0")/.."
NODES=0
if [ "${1:-}" = "--cluster" ]; then
  NODES="${2:-3}"
  case "$NODES" in
    ''|*[!0-9]*) echo "run.sh: --cluster takes a number of nodes (2..9)" >&2; exit 2 ;;
  esac
  if [ "$NODES" -lt 2 ] || [ "$NODES" -gt 9 ]; then
    echo "run.sh: --cluster takes a number of nodes (2..9)" >&2
    exit 2
  fi
  shift 2
fi

./scripts/setup.sh
BUILD_DIR="${DRL_BUILD_DIR:-build}"
DRL="$BUILD_DIR/src/drl"

if [ -n "${DRL_RUN_DIR:-}" ]; then
  RUN_DIR="$DRL_RUN_DIR"
elif [ "$(id -u)" -eq 0 ]; then
  RUN_DIR=/run/drl
elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
  RUN_DIR="$XDG_RUNTIME_DIR/drl"
else
  RUN_DIR="/tmp/drl-$(id -un)"
fi
mkdir -p "$RUN_DIR"
PORT_BASE="${DRL_PORT_BASE:-7100}"
case "$PORT_BASE" in
  ''|*[!0-9]*) echo "run.sh: DRL_PORT_BASE must be a port number" >&2; exit 2 ;;
esac
# drl finds the socket through DRL_SOCKET when it is not /run/drl/drld.sock.
SOCKET_HINT=""
[ "$RUN_DIR" = /run/drl ] || SOCKET_HINT="export DRL_SOCKET=$RUN_DIR/drld.sock   # once, in that terminal
  "

if [ "$NODES" -eq 0 ]; then
  SOCKET="$RUN_DIR/drld.sock"
  cat <<HELP

drld is starting on $SOCKET with the embedded default config
($BUILD_DIR/src/drld --print-default-config shows it). Try it from another terminal:

  ${SOCKET_HINT}$DRL check --policy demo --key alice            # 5 per 10 s: allowed ...
  $DRL check --policy demo --key alice --repeat 6 # ... then denied, with retry_after
  $DRL check --policy demo --key alice --json
  $DRL status

HELP
  exec "$BUILD_DIR/src/drld" --socket "$SOCKET" "$@"
fi

# A local cluster: one config per node under RUN_DIR/cluster, all nodes as peers.
DIR="$RUN_DIR/cluster"
mkdir -p "$DIR"
PEERS=""
i=1
while [ "$i" -le "$NODES" ]; do
  PEERS="$PEERS\"127.0.0.1:$((PORT_BASE + i))\", "
  i=$((i + 1))
done
PIDS=""
cleanup() {
  for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT
i=1
while [ "$i" -le "$NODES" ]; do
  cat > "$DIR/node$i.toml" <<TOML
# Written by scripts/run.sh --cluster $NODES
[node]
id = "node$i"
socket = "$RUN_DIR/node$i.sock"

[cluster]
bind = "127.0.0.1:$((PORT_BASE + i))"
peers = [${PEERS%, }]
gossip_interval = "5ms"

[[policy]]
name = "demo"
limit = 10
window = "10s"

[[policy]]
name = "api"
limit = 100
window = "1m"
[policy.tiers.pro]
limit = 1000
TOML
  # Each log line says which node wrote it (through a pipe, so that $! stays drld's pid).
  rm -f "$DIR/node$i.log-pipe"
  mkfifo "$DIR/node$i.log-pipe"
  sed -u "s/^/node$i | /" <"$DIR/node$i.log-pipe" >&2 &
  "$BUILD_DIR/src/drld" --config "$DIR/node$i.toml" "$@" 2>"$DIR/node$i.log-pipe" &
  PIDS="$PIDS $!"
  i=$((i + 1))
done
sleep 1
cat <<HELP

A cluster of $NODES drld is running (configs in $DIR, logs below). The demo policy allows
10 checks per 10 s per key, counted once across all nodes. From another terminal:

  for n in 1 2 3 1 2 3 1 2 3 1 2 3; do
    $DRL check --socket $RUN_DIR/node\$n.sock --policy demo --key alice
  done                                                  # 10 allowed in all, then denied
  $DRL inspect --socket $RUN_DIR/node2.sock --policy demo --key alice   # who counted what
  $DRL status --socket $RUN_DIR/node1.sock              # peers, round trips, clock offsets

The nodes' pids:$PIDS (also in: $DRL status --socket $RUN_DIR/node2.sock).
Kill one (kill -9 PID) and start it again by hand, e.g. for node 2:

  $BUILD_DIR/src/drld --config $DIR/node2.toml

it gets its counts back from the others. Ctrl-C stops the nodes this script started (not one
started again by hand: stop that one with Ctrl-C in its own terminal).

HELP
wait
