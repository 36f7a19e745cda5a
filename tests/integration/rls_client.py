#!/usr/bin/python3
"""A client of Envoy's rate limit service over gRPC, as Envoy calls it: one ShouldRateLimit per
run, the answer printed as JSON. For drl's tests (importable) and for operators trying a drld.

  rls_client.py --target 127.0.0.1:PORT --domain D [--hits-addend N]
                --descriptor key=value[,key2=value2] [--limit N/unit] [--descriptor-hits N]
                [--descriptor ...] [--timeout SECONDS] [--proto-python DIR]

--limit and --descriptor-hits belong to the --descriptor before them (the descriptor's limit
override, and its hits_addend, a google.protobuf.UInt64Value). Units: second, minute, hour, day,
month, year, week, or a number (a unit value our proto does not name). A key=value pair is split at
its first '='; a value cannot hold ',' here (the functions below take any string).

Output: {"overall_code": "OK"|"OVER_LIMIT"|"UNKNOWN", "statuses": [{"code": ...,
"current_limit": {"name", "requests_per_unit", "unit"} or null, "limit_remaining": N,
"duration_until_reset_ms": N or null}, ...], "response_headers_to_add": [{"key", "value"}]}
and exit 0; a gRPC error prints {"error": {"code": "INVALID_ARGUMENT", "message": ...}} and
exits 1; a bad command line exits 2.

Needs Debian's python3-grpcio and python3-protobuf, and the modules protoc generates from drl's
proto/ at build time (build/proto, see proto/README.md): --proto-python DIR, else the
environment's DRL_PROTO_PYTHON (the meson tests set it), else build/proto of this source tree.
Generated modules rather than messages built by hand here: they are the same proto files the
server is compiled from, so the client cannot drift from them.
"""

import argparse
import json
import os
import sys

METHOD = "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"
LIMIT_UNITS = ["second", "minute", "hour", "day", "month", "year"]

_modules = None


class RlsError(Exception):
    """A call that ended with a gRPC status other than OK."""

    def __init__(self, code, message):
        super().__init__("%s: %s" % (code, message))
        self.code = code  # the status code's name, e.g. "INVALID_ARGUMENT"
        self.message = message


def default_proto_python_dir():
    if os.environ.get("DRL_PROTO_PYTHON"):
        return os.environ["DRL_PROTO_PYTHON"]
    source_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(source_root, "build", "proto")


def load_modules(proto_python_dir=None):
    """Imports the generated rls_pb2 (and the modules it imports) from proto_python_dir."""
    global _modules
    if _modules is None:
        directory = proto_python_dir or default_proto_python_dir()
        if not os.path.exists(os.path.join(directory, "envoy", "service", "ratelimit", "v3",
                                           "rls_pb2.py")):
            raise RuntimeError("no generated rls_pb2.py under %s: build drl with the meson "
                               "feature 'envoy' (ninja -C build), or pass --proto-python"
                               % directory)
        sys.path.insert(0, directory)
        # Generated at build time; they import each other as envoy.<package>.<file>_pb2.
        from envoy.service.ratelimit.v3 import rls_pb2
        from envoy.type.v3 import ratelimit_unit_pb2
        _modules = (rls_pb2, ratelimit_unit_pb2)
    return _modules[0]


def parse_unit(text):
    """'minute' -> 2 (envoy.type.v3.RateLimitUnit); a number is taken as it is (proto3 enums
    are open: 7 is WEEK in the response's enum)."""
    load_modules()
    if text.isdigit():
        return int(text)
    if text.lower() == "week":
        return 7  # envoy.type.v3.RateLimitUnit names no WEEK; the response's enum has it as 7
    if text.lower() not in LIMIT_UNITS:
        raise ValueError("unknown unit %r (one of %s, week, or a number)"
                         % (text, ", ".join(LIMIT_UNITS)))
    return _modules[1].RateLimitUnit.Value(text.upper())


def make_request(domain, descriptors, hits_addend=0):
    """A RateLimitRequest. descriptors: a list of dicts with "entries" (a list of (key, value)),
    and optionally "limit" ((requests_per_unit, unit name or number)) and "hits_addend" (an int:
    the descriptor's own, set even when 0)."""
    rls_pb2 = load_modules()
    request = rls_pb2.RateLimitRequest(domain=domain, hits_addend=hits_addend)
    for spec in descriptors:
        descriptor = request.descriptors.add()
        for key, value in spec["entries"]:
            descriptor.entries.add(key=key, value=value)
        if spec.get("limit") is not None:
            requests_per_unit, unit = spec["limit"]
            descriptor.limit.requests_per_unit = requests_per_unit
            descriptor.limit.unit = unit if isinstance(unit, int) else parse_unit(unit)
        if spec.get("hits_addend") is not None:
            descriptor.hits_addend.value = spec["hits_addend"]
    return request


def response_to_dict(response):
    """The answer as plain data (the JSON the CLI prints)."""
    rls_pb2 = load_modules()
    codes = rls_pb2.RateLimitResponse.Code
    units = rls_pb2.RateLimitResponse.RateLimit.Unit

    def name(enum, value):
        return enum.Name(value) if value in enum.values() else str(value)

    statuses = []
    for status in response.statuses:
        limit = None
        if status.HasField("current_limit"):
            limit = {"name": status.current_limit.name,
                     "requests_per_unit": status.current_limit.requests_per_unit,
                     "unit": name(units, status.current_limit.unit)}
        reset_ms = None
        if status.HasField("duration_until_reset"):
            reset = status.duration_until_reset
            reset_ms = reset.seconds * 1000 + reset.nanos // 1000000
        statuses.append({"code": name(codes, status.code), "current_limit": limit,
                         "limit_remaining": status.limit_remaining,
                         "duration_until_reset_ms": reset_ms})
    return {"overall_code": name(codes, response.overall_code), "statuses": statuses,
            "response_headers_to_add": [{"key": h.key, "value": h.value}
                                        for h in response.response_headers_to_add]}


class RlsClient:
    """One channel to a rate limit service, for many calls."""

    def __init__(self, target):
        import grpc
        rls_pb2 = load_modules()
        self._grpc = grpc
        self._channel = grpc.insecure_channel(target)
        self._call = self._channel.unary_unary(
            METHOD, request_serializer=rls_pb2.RateLimitRequest.SerializeToString,
            response_deserializer=rls_pb2.RateLimitResponse.FromString)

    def should_rate_limit(self, domain, descriptors, hits_addend=0, timeout_s=5.0):
        """The answer as response_to_dict gives it; raises RlsError on a gRPC error."""
        return response_to_dict(self.call(make_request(domain, descriptors, hits_addend),
                                          timeout_s))

    def call(self, request, timeout_s=5.0):
        """Sends a RateLimitRequest as it is; returns the RateLimitResponse."""
        try:
            return self._call(request, timeout=timeout_s)
        except self._grpc.RpcError as error:
            raise RlsError(error.code().name, error.details()) from None

    def close(self):
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def should_rate_limit(target, domain, descriptors, hits_addend=0, timeout_s=5.0):
    """One call on a channel of its own."""
    with RlsClient(target) as client:
        return client.should_rate_limit(domain, descriptors, hits_addend, timeout_s)


def parse_descriptor(text):
    entries = []
    for pair in text.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError("descriptor %r: entries are key=value, separated by ','" % text)
        entries.append((key, value))
    return {"entries": entries}


def parse_limit(text):
    count, sep, unit = text.partition("/")
    if not sep or not count.isdigit():
        raise ValueError("limit %r: N/unit, e.g. 10/minute" % text)
    return int(count), unit


def main(argv):
    descriptors = []

    class AddDescriptor(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):
            try:
                descriptors.append(parse_descriptor(value))
            except ValueError as error:
                parser.error(str(error))

    class SetOnLastDescriptor(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):
            if not descriptors:
                parser.error("%s belongs to a --descriptor before it" % option_string)
            try:
                if self.dest == "limit":
                    count, unit = parse_limit(value)
                    descriptors[-1]["limit"] = (count, parse_unit(unit))
                else:
                    descriptors[-1]["hits_addend"] = int(value)
            except (ValueError, RuntimeError) as error:
                parser.error(str(error))

    parser = argparse.ArgumentParser(description="Ask a rate limit service as Envoy does.")
    parser.add_argument("--target", required=True, help="host:port of the service")
    parser.add_argument("--domain", required=True)
    parser.add_argument("--hits-addend", type=int, default=0,
                        help="the request's hits (0, the default, means 1)")
    parser.add_argument("--descriptor", action=AddDescriptor, required=True,
                        help="key=value[,key2=value2]: one descriptor (repeat for more)")
    parser.add_argument("--limit", action=SetOnLastDescriptor,
                        help="N/unit: the limit override of the --descriptor before it")
    parser.add_argument("--descriptor-hits", dest="hits", action=SetOnLastDescriptor,
                        help="N: the hits_addend of the --descriptor before it")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (the deadline)")
    parser.add_argument("--proto-python", help="directory of the generated *_pb2.py modules")
    # The generated modules are needed while parsing (unit names): load them first.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--proto-python")
    known, _ = first.parse_known_args(argv)
    try:
        load_modules(known.proto_python)
    except (RuntimeError, ImportError) as error:
        print("rls_client: %s" % error, file=sys.stderr)
        return 2
    args = parser.parse_args(argv)

    try:
        answer = should_rate_limit(args.target, args.domain, descriptors, args.hits_addend,
                                   args.timeout)
    except RlsError as error:
        print(json.dumps({"error": {"code": error.code, "message": error.message}}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
