"""An agent's (or git's) exit seen by the event loop on a pidfd, not by a thread per child.

Python 3.11's asyncio waits for each child of `asyncio.create_subprocess_exec` with its
ThreadedChildWatcher: a thread started per child, blocked in waitpid(), that hands the exit back
to the loop. A no-op instance runs several children (bubblewrap, git), so a fan-out starts and
joins thousands of threads a minute, each start and hand-back taking the GIL. Here the kernel
says when a child has exited on a pid file descriptor the loop watches with the rest of its I/O
(what asyncio does by itself from Python 3.12 on). As 3.12's, the watcher serves whichever loop
starts the child, so a loop in another thread (a blocking helper's asyncio.run) is served too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class PidfdWatcher(asyncio.AbstractChildWatcher):
    """Each child's exit on a pidfd read by the loop that started it (Linux 5.3+)."""

    def __init__(self) -> None:
        self._children: dict[int, tuple[asyncio.AbstractEventLoop, int]] = {}

    def __enter__(self) -> PidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        return None

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        return None  # each child is watched by the running loop that starts it

    def add_child_handler(self, pid: int, callback: Callable[..., object], *args: Any) -> None:  # type: ignore[override]  # typeshed: a TypeVarTuple
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        self._children[pid] = loop, pidfd
        loop._add_reader(pidfd, self._exited, pid, callback, args)  # type: ignore[attr-defined]

    def _exited(self, pid: int, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        loop, pidfd = self._children.pop(pid)
        loop._remove_reader(pidfd)  # type: ignore[attr-defined]
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere (as asyncio's own watchers say it)
            log.warning("child process %d's exit status was already read: its returncode is given as 255", pid)
            code = 255
        else:
            code = os.waitstatus_to_exitcode(status)
        callback(pid, code, *args)

    def remove_child_handler(self, pid: int) -> bool:
        if (child := self._children.pop(pid, None)) is None:
            return False
        loop, pidfd = child
        loop._remove_reader(pidfd)  # type: ignore[attr-defined]
        os.close(pidfd)
        return True


def use_pidfd_watcher() -> bool:
    """Have asyncio watch its children on pidfds from here on, where this Python's asyncio does not
    already (before 3.12) and the kernel has pidfds; whether it now does."""
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:  # a kernel before 5.3, or a seccomp filter that refuses it
        return False
    with warnings.catch_warnings(), contextlib.suppress(NotImplementedError):
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(PidfdWatcher())
        return True
    return False
