"""`network_egress: proxy` in a sandbox: the model API, and nothing else, inside its network namespace.

The sandbox has a network namespace of its own with loopback only. Before the agent starts,
bubblewrap tells the worker the sandbox's pid (`--info-fd`) and waits (`--block-fd`); a thread of
the worker enters that namespace, listens on the loopback ports of the plugin's endpoints, and
leaves; then the agent starts. Each connection the agent makes to such a port is accepted by the
worker in its own namespace and forwarded to that endpoint only (docker/relay.py's `forward_to`),
so no process runs in the sandbox for the relay, its hosts resolve to loopback in the sandbox's
/etc/hosts, and TLS stays end to end. Entering another namespace needs root: a worker of another
user cannot (activities/runners/sandbox/__init__.py says so before a run starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from activities.runners.docker.relay import forward_to

CLONE_NEWNET = 0x40000000
IP_FREEBIND = 15
"""Bind before loopback is up in the namespace (bubblewrap raises it as it sets the sandbox up)."""
INFO_LIMIT = 64 * 1024

T = TypeVar("T")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc().setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), "setns")


def _in_own_thread(fn: Callable[[], T]) -> T:
    """`fn()` on a thread made for it, which ends with it: a thread that entered another network
    namespace and could not leave it is never one the worker uses again."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as e:  # handed to the caller
            outcome["error"] = e

    thread = threading.Thread(target=run, name="orchard-sandbox-netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def listen_in(pid: int, ports: list[int]) -> list[socket.socket]:
    """Sockets listening on 127.0.0.1 at `ports` in the network namespace of process `pid`."""

    def enter_and_listen() -> list[socket.socket]:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        theirs = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        listening: list[socket.socket] = []
        try:
            _setns(theirs)
            try:
                for port in ports:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    listening.append(sock)
                    sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
                    sock.bind(("127.0.0.1", port))
                    sock.listen(128)
                    sock.setblocking(False)
            finally:
                _setns(own)
        except BaseException:
            for sock in listening:
                sock.close()
            raise
        finally:
            os.close(own)
            os.close(theirs)
        return listening

    return _in_own_thread(enter_and_listen)


def _read_info(fd: int) -> dict[str, Any] | None:
    """What bubblewrap writes to its info fd (the sandbox's pid, its namespaces); None if it
    exited first (its own error is on its stderr)."""
    text = b""
    while len(text) < INFO_LIMIT:
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        text += chunk
        with contextlib.suppress(ValueError):
            info = json.loads(text)
            return info if isinstance(info, dict) else None
    return None


class NetnsRelay:
    """The relay for one sandbox: pass `flags()` to bubblewrap and its `fds` to the process, await
    `started(pid)` once it runs (the agent waits until then), `close()` when it is over."""

    def __init__(self, targets: list[tuple[str, int]]):
        self.targets = targets
        self.info_r, self.info_w = os.pipe()
        self.block_r, self.block_w = os.pipe()
        self._open = {self.info_r, self.info_w, self.block_r, self.block_w}
        self.servers: list[asyncio.AbstractServer] = []

    def flags(self) -> list[str]:
        return ["--info-fd", str(self.info_w), "--block-fd", str(self.block_r)]

    @property
    def fds(self) -> tuple[int, int]:
        return self.info_w, self.block_r

    def _close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            os.close(fd)

    async def started(self, pid: int) -> None:
        """Listen in the sandbox's namespace, then let the agent start. If listening failed, the
        error is raised once bubblewrap is let go (run_process then kills the sandbox)."""
        self._close(self.info_w)
        self._close(self.block_r)
        try:
            info = await asyncio.to_thread(_read_info, self.info_r)
            if info is None or not isinstance(info.get("child-pid"), int):
                return
            listening = await asyncio.to_thread(listen_in, info["child-pid"], [port for _, port in self.targets])
            for (host, port), sock in zip(self.targets, listening, strict=True):
                self.servers.append(await asyncio.start_server(forward_to(host, port), sock=sock))
        finally:
            with contextlib.suppress(OSError):
                os.write(self.block_w, b"1")
            self._close(self.block_w)
            self._close(self.info_r)

    def close(self) -> None:
        for server in self.servers:
            server.close()
        for fd in list(self._open):
            self._close(fd)
