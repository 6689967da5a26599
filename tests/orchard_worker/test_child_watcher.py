"""A worker's children are waited for on pidfds (orchard_worker/child_watcher.py): their exit codes as
before, without a thread per child, from whichever loop starts them."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator

import pytest

from orchard_worker.child_watcher import PidfdWatcher, use_pidfd_watcher


@pytest.fixture
def pidfd_watcher() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        before = asyncio.get_child_watcher()
        if not use_pidfd_watcher():
            pytest.skip("this Python or kernel has no pidfd child watcher to install")
        try:
            yield
        finally:
            asyncio.set_child_watcher(before)


async def _exits(codes: list[int]) -> tuple[list[int], int]:
    """Each code's child's returncode, and the most threads seen while they ran."""
    most = threading.active_count()
    children = [await asyncio.create_subprocess_exec("sh", "-c", f"read _; exit {code}", stdin=asyncio.subprocess.PIPE) for code in codes]
    most = max(most, threading.active_count())
    for child in children:
        assert child.stdin is not None
        child.stdin.close()
    returned = [await child.wait() for child in children]
    return returned, max(most, threading.active_count())


async def test_children_exit_codes_come_back_without_a_thread_each(pidfd_watcher):
    assert isinstance(asyncio.get_child_watcher(), PidfdWatcher)
    threads = threading.active_count()
    codes, most = await _exits([0, 3, 0, 7, 1, 0])
    assert codes == [0, 3, 0, 7, 1, 0]
    assert most == threads  # Python 3.11's own watcher ran one thread per child still running: six more here
    child = await asyncio.create_subprocess_exec("sh", "-c", "kill -TERM $$")
    assert await child.wait() == -15  # a signal's death as asyncio has always said it


async def test_a_loop_in_another_thread_waits_for_its_own_children(pidfd_watcher):
    found: list[list[int]] = []
    thread = threading.Thread(target=lambda: found.append(asyncio.run(_exits([0, 5]))[0]))
    thread.start()
    codes, _ = await _exits([2])
    await asyncio.to_thread(thread.join)
    assert codes == [2] and found == [[0, 5]]
