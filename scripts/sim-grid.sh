#!/bin/sh
# Runs drl-sim over a grid of cluster sizes, gossip intervals and loss rates, and prints the
# table of docs/simulation.md (overshoot, false rejects, gossip traffic per node).
#
#   scripts/sim-grid.sh [NODES...]          default: 3 10 40 100
#   GOSSIP="1ms 5ms 20ms" LOSS="0 0.05" scripts/sim-grid.sh 3 10
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"
SIM="$BUILD_DIR/sim/drl-sim"
[ -x "$SIM" ] || ./scripts/setup.sh >/dev/null
NODES="${*:-3 10 40 100}"
GOSSIP="${GOSSIP:-1ms 5ms 20ms 50ms}"
LOSS="${LOSS:-0 0.05}"

echo "| nodes | gossip | loss | overshoot mean | overshoot p99 | overshoot max | model | false rejects | datagrams/s per node | KiB/s per node |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for n in $NODES; do
  for g in $GOSSIP; do
    for l in $LOSS; do
      "$SIM" sim/scenarios/grid-base.toml --nodes "$n" --gossip-interval "$g" --loss "$l" --json |
      /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
lim = r["limits"][0]
n, g, l = int(sys.argv[1]), float(sys.argv[2].rstrip("ms")), float(sys.argv[3])
# Model: rate x (gossip + latency + jitter) x (n-1)/n, as % of the limit (3x a 1000/s limit).
rate = 3.0 * 1000
model = 100.0 * rate * (g + 0.5 + 0.5) / 1000.0 * (n - 1) / n / 1000
print("| %d | %s | %g%% | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.3f%% | %.0f | %.1f |" % (
  n, sys.argv[2], 100 * l, lim["overshoot_mean_percent"], lim["overshoot_p99_percent"],
  lim["overshoot_max_percent"], model, 100.0 * r["false_rejects"] / max(1, r["checks"]),
  r["datagrams_per_node_per_s"], r["bytes_per_node_per_s"] / 1024))
' "$n" "$g" "$l" "-"
    done
  done
done
