"""One JSON message and the file descriptors that go with it, over a unix socket: how the
launcher hands a command to the warm client, and a command a start to its pending worker; where
the warm client listens, and what comes back. The standard library only (the launcher imports it;
activities/paths.py imports the standard library only too)."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
from pathlib import Path
from typing import Any

from activities.paths import orchard_home

HEADER = struct.Struct(">I")
MAX_FDS = 3
EXIT = struct.Struct(">i")
"""The command's exit code, as the warm client sends it back."""
SIGNALS = {signal.SIGINT: b"I", signal.SIGTERM: b"T", signal.SIGHUP: b"H"}
"""What the launcher relays to the command's child, as one byte each."""


PEER = struct.Struct("3i")
"""struct ucred: the connecting process's pid, uid and gid."""


def peer(conn: socket.socket) -> tuple[int, int]:
    """The pid and uid of the process at the other end, as the kernel says."""
    pid, uid, _ = PEER.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEER.size))
    return pid, uid


def same_user(conn: socket.socket) -> bool:
    """The other end runs as this process's user (whatever the socket's mode)."""
    return peer(conn)[1] == os.getuid()


def warm_socket() -> Path:
    return orchard_home() / "warm" / "client.sock"


def warm_record() -> Path:
    """The digest of the code the warm client imported (it serves no other)."""
    return orchard_home() / "warm" / "code"


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
