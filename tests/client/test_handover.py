"""Handing a message and descriptors over a unix socket (client/handover.py)."""

from __future__ import annotations

import os
import socket
import threading

from client import handover


def test_a_message_read_by_an_end_that_leaves_at_once_was_sent(tmp_path):
    """The pending worker closes its end as soon as it has read its start: the sender must not then
    fail (it would think the start was lost, and start a second worker)."""
    log = (tmp_path / "log").open("ab")
    message = {"env": {f"VAR_{i}": "x" * 100 for i in range(2000)}}  # larger than one send: finished with sendall
    for size in (message, {"small": True}):
        for _ in range(200):
            ours, theirs = socket.socketpair()
            got: list[tuple[dict, list[int]] | None] = []

            def read_and_leave(conn: socket.socket = theirs, got: list[tuple[dict, list[int]] | None] = got) -> None:
                got.append(handover.receive(conn))
                conn.close()

            reader = threading.Thread(target=read_and_leave)
            reader.start()
            handover.send(ours, size, [log.fileno()])
            reader.join()
            ours.close()
            received, fds = got[0]
            assert received == size and len(fds) == 1
            os.close(fds[0])
