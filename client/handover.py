"""One JSON message and the file descriptors that go with it, over a unix socket: how the
launcher hands a command to the warm client, and a command a start to its pending worker. The
standard library only (the launcher imports it)."""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FDS = 3


def send(conn: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
    data = json.dumps(message).encode()
    payload = HEADER.pack(len(data)) + data
    sent = socket.send_fds(conn, [payload], fds)
    if sent < len(payload):  # the descriptors went with the first bytes; a large message is finished here
        conn.sendall(payload[sent:])  # (never an empty send: the other end may have read it all and gone, and that is EPIPE)


def receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The message and its descriptors; None when the other end closed without sending one."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, MAX_FDS)
    if not data:
        return None
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack(data[:HEADER.size])[0]:
        more = conn.recv(1 << 20)
        if not more:
            raise ConnectionError("the other end left before its message was read")
        data += more
    return json.loads(data[HEADER.size:]), fds
