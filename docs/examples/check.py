#!/usr/bin/python3
# One check against drld (client protocol v1, docs/protocol.md). Needs python3-msgpack.
# usage: check.py SOCKET POLICY KEY [COST]  -- prints the answer; exit 0 allowed, 1 denied, 2 error
import json, socket, struct, sys

import msgpack


def recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("drld closed the connection")
        data += chunk
    return data


if len(sys.argv) not in (4, 5) or (len(sys.argv) == 5 and not sys.argv[4].isdigit()):
    print("usage: check.py SOCKET POLICY KEY [COST]", file=sys.stderr)
    sys.exit(2)  # an error, never "denied" (1)
path, policy, key = sys.argv[1:4]
request = {"v": 1, "id": 1, "op": "check", "policy": policy, "key": key,
           "cost": int(sys.argv[4]) if len(sys.argv) > 4 else 1}
body = msgpack.packb(request)
try:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        sock.sendall(struct.pack(">I", len(body)) + body)  # 4-byte big-endian length, then the map
        (size,) = struct.unpack(">I", recv_exactly(sock, 4))
        answer = msgpack.unpackb(recv_exactly(sock, size))
except OSError as error:  # no drld there, or it went away: an error (2), never "denied" (1)
    print(f"check.py: {path}: {error}", file=sys.stderr)
    sys.exit(2)
print(json.dumps(answer))
sys.exit(2 if "error" in answer else 0 if answer["allowed"] else 1)
