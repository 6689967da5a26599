"""The warm client: a process beside the embedded server with Orchard imported, which runs each
`orchard` command handed to it (client/launcher.py) in a child forked for it.

The child becomes the command's process: the caller's standard input, output and error, its
working directory, environment and arguments. Forking is safe because this process never starts
a thread, an event loop or a Temporal runtime: it imports, then waits on its socket. It serves
the code it imported only (the launcher compares digests), and stops with `orchard server stop`.

    python -m client.warm
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import selectors
import signal
import socket
import sys
import traceback
from dataclasses import dataclass

from activities.git.overlay import overlay_unavailable
from client import commands
from client.cli import build_parser
from client.handover import EXIT, SIGNALS, receive, same_user, warm_record, warm_socket
from orchard_common.code import code_digest

RELAYED = {code: sig for sig, code in SIGNALS.items()}


@dataclass
class Command:
    """A command's child, and the connection of the caller waiting for its exit code."""

    conn: socket.socket
    pid: int


def _become(request: dict, fds: list[int]) -> None:
    """In the child: take the caller's place, and run its command as `orchard` would. The
    command's entrypoint ends the process with the command's exit code whatever happens (--help,
    a usage error, a closed pipe, a bug), its output flushed, as it ends a command in its own."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["orchard", *request["argv"]]
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), line_buffering=False)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=os.isatty(1), write_through=os.isatty(1))
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True, errors="backslashreplace")
    from client.cli import entrypoint

    entrypoint()


def serve() -> None:
    for module in pkgutil.iter_modules(commands.__path__):  # what a command would import first, imported once here
        importlib.import_module(f"{commands.__name__}.{module.name}")
    build_parser()  # and the parser each command's process would build (11 ms),
    overlay_unavailable()  # and whether overlays mount here (a mount and an unmount: 6.5 ms)
    digest = code_digest()
    path = warm_socket()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)  # the commands run as this user: only this user may hand one over
    listener.listen(64)
    warm_record().write_text(digest)
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    running: dict[int, Command] = {}
    while not stopping:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                if not same_user(conn):
                    conn.close()
                    continue
                try:
                    received = receive(conn)
                except (OSError, ValueError):
                    received = None
                if received is None:
                    conn.close()
                    continue
                request, fds = received
                pid = os.fork()
                if pid == 0:  # the command's process
                    signal.set_wakeup_fd(-1)
                    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
                        signal.signal(sig, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.default_int_handler)  # a relayed Ctrl-C, as in a terminal
                    for inherited in [listener, conn, wake_r, wake_w, *(c.conn for c in running.values())]:
                        inherited.close()
                    selector.close()
                    try:
                        _become(request, fds)  # ends this process as the command would end its own
                    finally:  # reached only when taking the caller's place failed; never back into this loop
                        traceback.print_exc()
                        sys.stderr.flush()
                        os._exit(1)
                for fd in fds:
                    os.close(fd)
                running[pid] = Command(conn, pid)
                selector.register(conn, selectors.EVENT_READ, pid)
            elif key.fileobj is wake_r:
                with contextlib.suppress(BlockingIOError):
                    wake_r.recv(4096)
                _reap(running, selector)
            else:
                command = running.get(key.data)
                if command is None:  # reaped earlier in this round
                    continue
                try:
                    relayed = command.conn.recv(16)
                except OSError:
                    relayed = b""
                for code in relayed or b"I":  # the caller left: as if it were interrupted
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(command.pid, RELAYED.get(bytes([code]), signal.SIGINT))
                if not relayed:
                    selector.unregister(command.conn)
                    command.conn.close()
    path.unlink(missing_ok=True)


def _reap(running: dict[int, Command], selector: selectors.BaseSelector) -> None:
    """Send each finished command's exit code to its caller."""
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        command = running.pop(pid, None)
        if command is None:
            continue
        with contextlib.suppress(OSError):
            command.conn.sendall(EXIT.pack(os.waitstatus_to_exitcode(status)))
        with contextlib.suppress(KeyError, ValueError):
            selector.unregister(command.conn)
        command.conn.close()


if __name__ == "__main__":
    serve()
