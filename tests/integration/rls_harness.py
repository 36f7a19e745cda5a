"""Harness of the Envoy integration tests (envoy_*_test.py): real drld processes serving Envoy's
rate limit service ([envoy]), asked over gRPC by rls_client.RlsClient, as Envoy asks them.

The Python counterpart of daemon_process.* and cluster_harness.*: a private temp directory per
test file, drld spawned with its log there, the gRPC and HTTP addresses read from its ready
line (both listen on port 0, so no port is guessed), every process killed at exit, also when a
check fails or meson's timeout kills the test (SIGTERM). Nothing sleeps blindly: waits poll a
condition against a monotonic deadline, except waiting for a window's start.

Test files register their cases with @case("a sentence") and end with run_cases(): each case
prints "ok" or "FAIL" with its sentence; the exit code is 0, 1 if a case failed, or 77 (skipped)
when this Python cannot import grpc. `TEST.py SUBSTRING` runs only the matching cases.

Environment (tests/integration/meson.build sets it): DRLD, DRL, DRL_PROTO_PYTHON.
"""

import atexit
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

try:
    import grpc  # noqa: F401  (rls_client imports it again; here only to skip without it)
except ImportError:
    print("SKIP: this Python cannot import grpc (apt-get install python3-grpcio "
          "python3-protobuf)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rls_client  # noqa: E402
from rls_client import RlsClient, RlsError  # noqa: E402,F401

DRLD = os.environ.get("DRLD", "")
DRL = os.environ.get("DRL", "")

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
DAY_MS = 24 * 60 * MINUTE_MS
UINT32_MAX = 2**32 - 1

_children = []


def _kill_children():
    for process in _children:
        if process.poll() is None:
            process.kill()
            process.wait()


def _on_sigterm(signum, frame):
    _kill_children()
    sys.exit(128 + signum)


atexit.register(_kill_children)
signal.signal(signal.SIGTERM, _on_sigterm)


# --- cases -----------------------------------------------------------------------------------

_cases = []


def case(sentence):
    """Registers the function as a test case named by `sentence`."""
    def register(function):
        _cases.append((sentence, function))
        return function
    return register


def run_cases(setup=None):
    """Runs the registered cases (those whose sentence contains argv[1], if given), after
    setup() if given; prints each; returns the exit code."""
    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    if not DRLD or not DRL:
        print("FAIL: DRLD and DRL must name the binaries (meson test sets them)")
        return 1
    rls_client.load_modules()  # fails loudly if the generated modules are missing
    started = time.monotonic()
    failed = []
    try:
        context = setup() if setup else None
        for sentence, function in _cases:
            if wanted not in sentence:
                continue
            began = time.monotonic()
            try:
                function(context) if setup else function()
                print("ok   %5.2f s  %s" % (time.monotonic() - began, sentence), flush=True)
            except Exception:  # noqa: BLE001 -- a failed case is reported, the others still run
                failed.append(sentence)
                print("FAIL %5.2f s  %s\n%s" % (time.monotonic() - began, sentence,
                                                traceback.format_exc()), flush=True)
    finally:
        if setup and context is not None and hasattr(context, "close"):
            if failed:
                context.dump_logs()
            context.close()
    print("%d cases, %d failed, %.1f s" % (sum(wanted in s for s, _ in _cases), len(failed),
                                           time.monotonic() - started))
    for sentence in failed:
        print("FAILED: " + sentence)
    return 1 if failed else 0


def check(condition, message):
    """assert that survives python -O, with the message shown on failure."""
    if not condition:
        raise AssertionError(message)


def check_equal(got, expected, what):
    if got != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, got))


def wait_until(condition, timeout_s, interval_s=0.01):
    """Polls condition() until it is true or timeout_s passes; returns its last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = condition()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(interval_s)


# --- windows ---------------------------------------------------------------------------------

def wall_ms():
    """The wall clock drld names windows with (CLOCK_REALTIME), in ms since the epoch."""
    return time.time_ns() // 1_000_000


def window_of(window_ms, at_ms=None):
    return (wall_ms() if at_ms is None else at_ms) // window_ms


def wait_for_room(window_ms, room_ms):
    """Returns when at least room_ms are left in the current window of window_ms (aligned on
    the epoch, like drld's fixed windows): at once, or just after the next window begins."""
    left = window_ms - wall_ms() % window_ms
    if left < room_ms:
        time.sleep((left + 5) / 1000.0)


def in_one_window(window_ms, body, room_ms=None, attempts=3):
    """Runs body() inside one fixed window of window_ms, from near its start for short windows.
    A body that fails after its calls crossed into the next window (the machine stalled) is run
    again in a fresh window, up to `attempts` times: the window, not drld, decided that failure.
    A failure within one window is a failure."""
    room_ms = room_ms if room_ms is not None else min(window_ms * 8 // 10, 5000)
    for attempt in range(1, attempts + 1):
        wait_for_room(window_ms, room_ms)
        began = wall_ms()
        try:
            return body()
        except AssertionError:
            crossed = window_of(window_ms) != window_of(window_ms, began)
            if not crossed or attempt == attempts:
                raise
            print("  (attempt %d crossed a window boundary after %d ms; again)"
                  % (attempt, wall_ms() - began), flush=True)
            # A window of a second is over soon; longer ones were given room, so a crossing
            # there means a stall of seconds: the next attempt starts in a fresh window too.
            time.sleep((window_ms - wall_ms() % window_ms + 5) / 1000.0)


# --- processes -------------------------------------------------------------------------------

class TempDir:
    """A fresh directory under $TMPDIR or /tmp (short: Unix socket paths are), removed by
    close()."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="drl-it-envoy-")

    def file(self, name):
        return os.path.join(self.path, name)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def write_file_in_place(path, text):
    """Truncates and rewrites the file (same inode), as an editor saving in place does."""
    with open(path, "w") as stream:
        stream.write(text)


def replace_file(path, text):
    """Writes a sibling hidden file (drld reads no hidden files) and renames it over `path`,
    as most editors and configuration tools do."""
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, "." + name + ".tmp")
    with open(temporary, "w") as stream:
        stream.write(text)
    os.rename(temporary, path)


def run(argv, timeout_s=10):
    """(exit code, stdout, stderr) of a command, no shell."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout_s)
    return done.returncode, done.stdout, done.stderr


READY = re.compile(r" ready: .*")
ENVOY_ADDRESS = re.compile(r"Envoy rate limit service on (\S+) ")
HTTP_ADDRESS = re.compile(r"HTTP on (\S+) ")


class Drld:
    """One drld with an [envoy] table, spawned by the constructor, ready when it returns.

    Its files in `directory`: conf/NAME.toml (its own directory: drld watches the config's
    directory), NAME.log, NAME.sock; the YAML files in `config_dir` (made by the caller).
    `http`: an [http] listen too (for /metrics). `extra`: TOML appended (e.g. a [cluster]
    table). `envoy_extra`: lines added to [envoy]."""

    def __init__(self, directory, config_dir, name="drld", http=False, extra="",
                 envoy_extra="", response_headers="none", watch_config=True, timeout_s=15):
        self.name = name
        self.socket = os.path.join(directory, name + ".sock")
        self.log_path = os.path.join(directory, name + ".log")
        conf_dir = os.path.join(directory, "conf")
        os.makedirs(conf_dir, exist_ok=True)
        self.config_path = os.path.join(conf_dir, name + ".toml")
        text = ('[node]\nid = "%s"\nsocket = "%s"\nwatch_config = %s\n\n'
                % (name, self.socket, "true" if watch_config else "false"))
        if http:
            text += '[http]\nlisten = "127.0.0.1:0"\n\n'
        text += ('[envoy]\nlisten = "127.0.0.1:0"\nconfig_dir = "%s"\nresponse_headers = "%s"\n%s\n'
                 % (config_dir, response_headers, envoy_extra))
        text += extra
        write_file_in_place(self.config_path, text)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([DRLD, "--config", self.config_path],
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)
        _children.append(self.process)
        self.target = None
        self.http = None
        ready = wait_until(lambda: READY.search(self.log()) or self.process.poll() is not None,
                           timeout_s)
        line = READY.search(self.log())
        if not line:
            raise RuntimeError("drld %s did not become ready (%s); its log:\n%s"
                               % (name, "exited %s" % self.process.returncode
                                  if self.process.poll() is not None else "still running",
                                  self.log()))
        del ready
        self.target = ENVOY_ADDRESS.search(line.group(0)).group(1)
        if http:
            self.http = HTTP_ADDRESS.search(line.group(0)).group(1)
        self.client = RlsClient(self.target)

    def log(self):
        with open(self.log_path, errors="replace") as stream:
            return stream.read()

    def ask(self, domain, descriptors, hits_addend=0, timeout_s=5.0):
        """ShouldRateLimit: descriptors are lists of (key, value) pairs, or dicts as
        rls_client.make_request takes them."""
        specs = [d if isinstance(d, dict) else {"entries": d} for d in descriptors]
        return self.client.should_rate_limit(domain, specs, hits_addend, timeout_s)

    def drl(self, *args):
        return run([DRL] + list(args) + ["--socket", self.socket])

    def status(self):
        code, out, err = self.drl("status", "--json")
        check(code == 0, "drl status failed (%d): %s" % (code, err))
        return json.loads(out)

    def reload(self):
        """drl reload: (exit code, stdout, stderr)."""
        return self.drl("reload")

    def metrics(self):
        """/metrics as {(name, ((label, value), ...)): value}, labels sorted."""
        with urllib.request.urlopen("http://%s/metrics" % self.http, timeout=5) as answer:
            return parse_metrics(answer.read().decode())

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.client.close()


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\.|[^"\\])*)"')


def parse_metrics(text):
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if not match:
            raise AssertionError("not a Prometheus sample: " + line)
        labels = tuple(sorted(LABEL.findall(match.group(2) or "")))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def metric(samples, name, **labels):
    """A sample's value; 0 if drld does not export it (yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def pick_udp_ports(count):
    """`count` distinct UDP ports on 127.0.0.1 that were free a moment ago: picked at random
    below the kernel's ephemeral range (32768 and up by default), so that no socket bound to
    port 0 elsewhere takes one before drld binds it, bound together, then released (as
    cluster_harness.cpp's pick_udp_ports)."""
    sockets = []
    try:
        for _ in range(count):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sockets.append(udp)
            for _attempt in range(200):
                try:
                    udp.bind(("127.0.0.1", random.randint(15000, 32767)))
                    break
                except OSError:
                    continue
            else:
                raise RuntimeError("no free UDP port on 127.0.0.1 in 15000..32767")
        return [udp.getsockname()[1] for udp in sockets]
    finally:
        for udp in sockets:
            udp.close()


# --- answers ---------------------------------------------------------------------------------

def limit_of(status):
    """(requests_per_unit, unit) of a descriptor status's current_limit, or None."""
    limit = status["current_limit"]
    return None if limit is None else (limit["requests_per_unit"], limit["unit"])


def expect_status(status, code, limit=None, remaining=None, what="status"):
    """One DescriptorStatus: its code, current_limit (requests_per_unit, unit) or None for no
    limit, and limit_remaining when given."""
    check_equal(status["code"], code, what + " code")
    check_equal(limit_of(status), limit, what + " current_limit")
    if remaining is not None:
        check_equal(status["limit_remaining"], remaining, what + " limit_remaining")


def expect_no_limit(answer, what="answer"):
    """OK, and every descriptor OK without a limit: what an unknown domain or a descriptor that
    matches nothing gets."""
    check_equal(answer["overall_code"], "OK", what + " overall_code")
    for i, status in enumerate(answer["statuses"]):
        expect_status(status, "OK", None, 0, "%s descriptor %d" % (what, i))


def headers_of(answer):
    return {h["key"]: h["value"] for h in answer["response_headers_to_add"]}


def reset_within(status, window_ms, what="duration_until_reset"):
    reset = status["duration_until_reset_ms"]
    check(reset is not None and 0 < reset <= window_ms,
          "%s: %r is not in (0, %d] ms" % (what, reset, window_ms))


def ceil_int(value):
    return int(math.ceil(value))
