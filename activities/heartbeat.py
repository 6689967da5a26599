"""Heartbeating while an activity works: how Temporal notices a lost worker quickly, how progress
reaches `orchard watch` and the UI, and how cancellation reaches the activity."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from temporalio import activity

HEARTBEAT_EVERY = 2.0
FIRST_BEAT_AFTER = 1.0
"""An instance's first heartbeat comes this long after its start: one that ends sooner (a no-op agent
in a fan-out) sends none, and Temporal's heartbeat timeout (15 s) still counts from its start."""


@contextlib.asynccontextmanager
async def heartbeating(details: Callable[[], Any], first_after: float = 0.0) -> AsyncIterator[None]:
    """Heartbeat `details()` every HEARTBEAT_EVERY seconds while the block runs, the first after
    `first_after` seconds (FIRST_BEAT_AFTER for short activities that run by the thousand)."""

    async def beat() -> None:
        if first_after:
            await asyncio.sleep(first_after)
        while True:
            activity.heartbeat(details())
            await asyncio.sleep(HEARTBEAT_EVERY)

    async with alongside(beat()):
        yield


@contextlib.asynccontextmanager
async def alongside(loop: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `loop` (a background loop: heartbeats, spend reports, a quota watch) while the block
    runs; it is stopped, and its end waited for, when the block ends."""
    task = asyncio.create_task(loop)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
