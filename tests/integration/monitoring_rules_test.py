#!/usr/bin/python3
# The shipped Prometheus alerting rules (config/monitoring/drl-alerts.yml) and Grafana dashboard
# (config/monitoring/drl-dashboard.json) name only metrics drld exports, with labels they have.
#
# The metrics are read from `$DRLD --print-metrics`, the table docs/monitoring.md shows. Every
# drl_* name in a PromQL expression must be in it (a histogram also as NAME_bucket, _sum and
# _count), and every label matched right after it ({label="..."}) must be one of its labels
# (or job, instance, and le for _bucket). The files are also checked for shape: rules with
# alert, expr, severity and summary; panels with unique ids and at least one expression; and,
# as docs/monitoring.md promises, every metric of the table on at least one panel.
#
# Run by meson (suite integration) with Debian's Python: exits 77 (skipped) without
# python3-yaml (apt-get install python3-yaml).
import json
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: this Python cannot import yaml (apt-get install python3-yaml)")
    sys.exit(77)

ROOT = os.environ["DRL_SOURCE_ROOT"]
DRLD = os.environ["DRLD"]
SEVERITIES = {"critical", "warning", "info"}
COMMON_LABELS = {"job", "instance"}

failures = []


def fail(message):
    failures.append(message)


def metric_table():
    """name -> (type, set of labels), from drld --print-metrics."""
    out = subprocess.run([DRLD, "--print-metrics"], check=True, capture_output=True, text=True)
    table = {}
    for line in out.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`drl_"):
            continue
        name = cells[0].strip("`")
        labels = {label for label in cells[2].strip("`").split(",") if label}
        table[name] = (cells[1], labels)
    if len(table) < 10:
        raise SystemExit("drld --print-metrics gave too few metrics:\n" + out.stdout)
    return table


def resolve(name, table):
    """The labels a series name may carry, or None if drld exports no such series."""
    if name in table:
        return table[name][1] | COMMON_LABELS
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and base in table and table[base][0] == "histogram":
            return table[base][1] | COMMON_LABELS | ({"le"} if suffix == "_bucket" else set())
    return None


SELECTOR = re.compile(r"\b(drl_[a-z0-9_]+)(\{[^}]*\})?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")


def check_expr(expr, where, table):
    balance = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for char in re.sub(r'"(\\.|[^"\\])*"', '""', expr):  # brackets outside strings
        if char in balance:
            stack.append(balance[char])
        elif char in balance.values():
            if not stack or stack.pop() != char:
                fail(f"{where}: unbalanced '{char}' in: {expr}")
                return
    if stack:
        fail(f"{where}: unclosed bracket in: {expr}")
    names = 0
    for match in SELECTOR.finditer(expr):
        names += 1
        name, matchers = match.group(1), match.group(2)
        labels = resolve(name, table)
        if labels is None:
            fail(f"{where}: {name} is not a metric drld exports (drld --print-metrics)")
            continue
        if matchers:
            body = re.sub(r'"(\\.|[^"\\])*"', '""', matchers)
            for label, _ in MATCHER.findall(body):
                if label not in labels:
                    fail(f"{where}: {name} has no label '{label}' (it has {sorted(labels)})")
    return names


def check_alerts(table):
    path = os.path.join(ROOT, "config/monitoring/drl-alerts.yml")
    with open(path) as stream:
        document = yaml.safe_load(stream)
    groups = document.get("groups") if isinstance(document, dict) else None
    if not groups:
        fail(f"{path}: no groups")
        return
    seen = set()
    rules = 0
    for group in groups:
        for rule in group.get("rules", []):
            rules += 1
            name = rule.get("alert")
            where = f"{path}: alert {name}"
            if not name:
                fail(f"{path}: a rule in group {group.get('name')} has no alert name")
                continue
            if name in seen:
                fail(f"{where}: defined twice")
            seen.add(name)
            if not isinstance(rule.get("expr"), str) or not rule["expr"].strip():
                fail(f"{where}: no expr")
                continue
            if rule.get("labels", {}).get("severity") not in SEVERITIES:
                fail(f"{where}: severity must be one of {sorted(SEVERITIES)}")
            annotations = rule.get("annotations", {})
            if not annotations.get("summary") or not annotations.get("description"):
                fail(f"{where}: needs a summary and a description")
            if "for" in rule and not re.fullmatch(r"\d+[smh]", str(rule["for"])):
                fail(f"{where}: 'for' is not a duration: {rule['for']}")
            if name != "DrlDown" and not check_expr(rule["expr"], where, table):
                fail(f"{where}: names no drl_* metric")
            elif name == "DrlDown":
                check_expr(rule["expr"], where, table)
    if rules < 10:
        fail(f"{path}: only {rules} rules")
    return rules


def panel_list(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def check_dashboard(table):
    path = os.path.join(ROOT, "config/monitoring/drl-dashboard.json")
    with open(path) as stream:
        dashboard = json.load(stream)  # raises on invalid JSON: the test fails
    for key in ("title", "uid", "panels", "schemaVersion"):
        if key not in dashboard:
            fail(f"{path}: no '{key}'")
    ids = set()
    exprs = 0
    used = set()
    for panel in panel_list(dashboard):
        where = f"{path}: panel {panel.get('id')} '{panel.get('title')}'"
        if panel.get("id") in ids:
            fail(f"{where}: id used twice")
        ids.add(panel.get("id"))
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            fail(f"{where}: no targets")
        for target in targets:
            expr = target.get("expr", "")
            if not expr:
                fail(f"{where}: a target without expr")
                continue
            exprs += 1
            check_expr(expr, where, table)
            used.update(match.group(1) for match in SELECTOR.finditer(expr))
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if isinstance(query, str) and "drl_" in query:
            check_expr(query, f"{path}: variable {variable.get('name')}", table)
    if exprs < 10:
        fail(f"{path}: only {exprs} expressions")
    shown = {name for name in table if any(u == name or u.startswith(name + "_") for u in used)}
    missing = sorted(set(table) - shown)
    if missing:  # docs/monitoring.md promises a panel for every metric
        fail(f"{path}: no panel shows {', '.join(missing)}")
    return exprs


def main():
    table = metric_table()
    rules = check_alerts(table)
    exprs = check_dashboard(table)
    if failures:
        print("\n".join(failures))
        print(f"FAIL: {len(failures)} problems")
        return 1
    print(f"ok: {rules} alerting rules and {exprs} dashboard expressions use only the "
          f"{len(table)} metrics drld exports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
