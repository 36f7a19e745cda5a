#!/usr/bin/python3
# Envoy's rate limit service on a 3-node drld cluster, asked over gRPC: three drld with [cluster]
# on loopback (gossip every 5 ms) and one config_dir, as three hosts each running Envoy and a
# drld would have. A descriptor admitted on one node is counted on all: asked in turn, the nodes
# admit exactly the limit; asked round-robin at 3x the limit, each window admits at least the
# limit and at most docs/replication.md's bound for that rate, and afterwards every node holds
# exactly what the client saw admitted.
#
# Run by meson (suite integration, with the feature 'envoy'): exits 77 (skipped) without
# python3-grpcio.
import math
import os
import sys
import time

from rls_harness import (MINUTE_MS, SECOND_MS, Drld, TempDir, case, check, check_equal,
                         expect_status, in_one_window, pick_udp_ports, run_cases, wait_until,
                         wall_ms)

NODES = 3
GOSSIP_INTERVAL_MS = 5
# How late a gossip round or its delivery may be because a process was not scheduled on a
# shared 2-core machine: the same slack as cluster_replication_test. A replication that does not
# work shows as a whole limit per node, far above it.
SCHEDULING_SLACK_MS = 50

RULES = """\
domain: cluster
descriptors:
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 100
  - key: tenant
    rate_limit:
      unit: minute
      requests_per_unit: 10
"""
LIMIT = 100  # user, per second
OFFERED_MULTIPLE = 3
FULL_WINDOWS = 3


class Context:
    def __init__(self):
        self.dir = TempDir()
        config_dir = self.dir.file("ratelimit")
        os.mkdir(config_dir)
        with open(os.path.join(config_dir, "cluster.yaml"), "w") as stream:
            stream.write(RULES)
        self.nodes = []
        for attempt in range(3):
            ports = pick_udp_ports(NODES)
            peers = ", ".join('"127.0.0.1:%d"' % port for port in ports)
            try:
                for i in range(NODES):
                    extra = ('[cluster]\nbind = "127.0.0.1:%d"\npeers = [%s]\n'
                             'gossip_interval = "%dms"\n'
                             % (ports[i], peers, GOSSIP_INTERVAL_MS))
                    self.nodes.append(Drld(self.dir.path, config_dir, name="n%d.%d"
                                           % (i + 1, attempt), extra=extra))
                break
            except RuntimeError as error:
                # Another process took a picked port before drld bound it: new ports.
                for node in self.nodes:
                    node.kill()
                self.nodes = []
                if "cannot bind UDP" not in str(error) or attempt == 2:
                    raise
        check(wait_until(self.connected, 15), "the cluster did not connect; logs:\n" + self.logs())

    def statuses(self):
        return [node.status() for node in self.nodes]

    def connected(self):
        statuses = self.statuses()
        for i, status in enumerate(statuses):
            for j, other in enumerate(statuses):
                if i == j:
                    continue
                rows = [p for p in status.get("peers", []) if p["node"] == other["node_id"]]
                if not rows or rows[0]["state"] != "alive" or \
                        rows[0]["incarnation"] != other["incarnation"]:
                    return False
        return True

    def rtt_us(self):
        """The mean peer round trip the nodes measured."""
        rtts = [p["rtt_us"] for s in self.statuses() for p in s["peers"] if p["rtt_us"] >= 0]
        return sum(rtts) / len(rtts) if rtts else 0.0

    def logs(self):
        return "".join("--- %s ---\n%s" % (node.name, node.log()) for node in self.nodes)

    def dump_logs(self):
        print(self.logs())

    def close(self):
        for node in self.nodes:
            node.kill()
        self.dir.close()


def ask(node, value, key="user"):
    return node.ask("cluster", [[(key, value)]])


def remaining_seen_by(node, value, key):
    """What the node holds for the descriptor, looked at without counting."""
    answer = node.ask("cluster", [{"entries": [(key, value)], "hits_addend": 0}])
    return answer["statuses"][0]["limit_remaining"]


def wait_all_see(nodes, value, key, remaining, what):
    seen = []

    def agree():
        seen[:] = [remaining_seen_by(node, value, key) for node in nodes]
        return all(r == remaining for r in seen)
    check(wait_until(agree, 2), "%s: the nodes hold remaining %s, not all %d"
          % (what, seen, remaining))


@case("asked in turn, the three nodes admit exactly the limit together: each sees what the "
      "others admitted")
def in_turn(c):
    a, b, z = c.nodes

    def body():
        for i in range(4):
            expect_status(ask(a, "t1", "tenant")["statuses"][0], "OK", (10, "MINUTE"), 9 - i,
                          "n1 #%d" % (i + 1))
        wait_all_see(c.nodes, "t1", "tenant", 6, "after 4 on n1")
        for i in range(3):
            expect_status(ask(b, "t1", "tenant")["statuses"][0], "OK", (10, "MINUTE"), 5 - i,
                          "n2 #%d" % (i + 1))
        wait_all_see(c.nodes, "t1", "tenant", 3, "after 3 on n2")
        for i in range(3):
            expect_status(ask(z, "t1", "tenant")["statuses"][0], "OK", (10, "MINUTE"), 2 - i,
                          "n3 #%d" % (i + 1))
        wait_all_see(c.nodes, "t1", "tenant", 0, "after 3 on n3")
        for node in c.nodes:
            answer = ask(node, "t1", "tenant")
            check_equal(answer["overall_code"], "OVER_LIMIT", node.name + " after 10")
    in_one_window(MINUTE_MS, body, room_ms=20 * 1000)


def window_of_answer(status, sent_ms, received_ms):
    """The fixed window an answer was decided in: its end is the server's now plus
    duration_until_reset, a multiple of the window, and the server's now lies between sent and
    received."""
    end = (sent_ms + received_ms) / 2 + status["duration_until_reset_ms"]
    return int(round(end / SECOND_MS)) - 1


@case("round-robin at 3x the limit: every full window admits at least the limit and at most "
      "docs/replication.md's bound, and then every node holds exactly what was admitted")
def overshoot(c):
    rate_per_ms = OFFERED_MULTIPLE * LIMIT / SECOND_MS
    period_s = 1.0 / (rate_per_ms * 1000)
    started = wall_ms()
    first_full = started // SECOND_MS + 1
    last_full = first_full + FULL_WINDOWS - 1
    # Half into the window after the last full one: that one still reaches its limit (1.5x
    # offered), and leaves half a second to read what the nodes hold of it.
    end = (last_full + 1) * SECOND_MS + SECOND_MS // 2
    admitted = {}
    offered = {}
    per_node = {}
    errors = 0
    k = 0
    next_send = time.monotonic()
    while True:
        delay = next_send - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_send += period_s
        sent = wall_ms()
        if sent >= end:
            break
        node = k % NODES
        k += 1
        try:
            answer = ask(c.nodes[node], "u1")
        except Exception:  # noqa: BLE001 -- counted and reported below
            errors += 1
            continue
        received = wall_ms()
        window = window_of_answer(answer["statuses"][0], sent, received)
        offered[window] = offered.get(window, 0) + 1
        if answer["overall_code"] == "OK":
            admitted[window] = admitted.get(window, 0) + 1
            per_node.setdefault(window, [0] * NODES)[node] += 1
    trailing = last_full + 1

    # Every node holds exactly what the client saw admitted in the trailing window (still
    # running: its counts are readable until it ends).
    expected_remaining = LIMIT - admitted.get(trailing, 0)
    agreed = None
    if window_of_answer(c.nodes[0].ask("cluster", [{"entries": [("user", "u1")],
                                                    "hits_addend": 0}])["statuses"][0],
                        wall_ms(), wall_ms()) == trailing:
        seen = []

        def agree():
            seen[:] = [remaining_seen_by(node, "u1", "user") for node in c.nodes]
            return all(r == max(0, expected_remaining) for r in seen)
        agreed = wait_until(agree, 0.3)
        agreed_ms = wall_ms()

    rtt_us = c.rtt_us()
    delay_max_ms = GOSSIP_INTERVAL_MS + 1 + rtt_us / 2000 + SCHEDULING_SLACK_MS
    bound = LIMIT + math.ceil(rate_per_ms * delay_max_ms * (NODES - 1) / NODES)
    mean_model = rate_per_ms * (GOSSIP_INTERVAL_MS / 2 + 0.5 + rtt_us / 2000) * (NODES - 1) / NODES
    print("  limit %d per 1 s on %d nodes over gRPC, offered %d/s round-robin (evenly paced), "
          "gossip %d ms, rtt %.0f us; model: mean excess %.2f, bound %d (with %d ms scheduling "
          "slack)" % (LIMIT, NODES, OFFERED_MULTIPLE * LIMIT, GOSSIP_INTERVAL_MS, rtt_us,
                      mean_model, bound, SCHEDULING_SLACK_MS))
    print("  window         offered  admitted  excess  admitted per node")
    for window in range(first_full, trailing + 1):
        print("  %d%s  %7d  %8d  %6d  %s" % (window, "*" if window == trailing else " ",
                                              offered.get(window, 0), admitted.get(window, 0),
                                              admitted.get(window, 0) - LIMIT,
                                              per_node.get(window, [0] * NODES)))
    print("  (* the trailing window, half offered; then the nodes %s in %s)"
          % ("agreed" if agreed else "did NOT agree" if agreed is not None else
             "were not read (the window ended first)",
             "%d ms" % (agreed_ms - end) if agreed else "-"))

    check_equal(errors, 0, "calls that failed")
    for window in range(first_full, last_full + 1):
        got = admitted.get(window, 0)
        check(got >= LIMIT, "window %d admitted %d, under the limit %d" % (window, got, LIMIT))
        check(got <= bound, "window %d admitted %d, over the bound %d" % (window, got, bound))
    check(agreed is not False, "the nodes did not agree on the trailing window: remaining %s, "
          "the client saw %d admitted" % (seen, admitted.get(trailing, 0)))


if __name__ == "__main__":
    sys.exit(run_cases(Context))
