"""The run's max_parallel slots handed out in a deterministic random order (`--randomize-queue`).

Every instance asking for a slot in the same step of the workflow is queued before any is chosen,
so the very first ones are drawn at random too; draws use workflow.random(), which Temporal seeds
per run and replays identically. Without it the run uses a plain asyncio.Semaphore (first asked,
first served).
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from temporalio import workflow


class ShuffledSlots:
    def __init__(self, size: int):
        self._free = size
        self._waiting: list[asyncio.Future[None]] = []
        self._drawing = False

    async def __aenter__(self) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        self._draw_soon()
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # drawn, then canceled before it could start
                self._release()
            raise

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._release()

    def _release(self) -> None:
        self._free += 1
        self._draw_soon()

    def _draw_soon(self) -> None:
        """Draw once the instances asking now have all queued (after the tasks already scheduled)."""
        if not self._drawing:
            self._drawing = True
            asyncio.get_running_loop().call_soon(self._draw)

    def _draw(self) -> None:
        self._drawing = False
        self._waiting = [t for t in self._waiting if not t.done()]
        while self._free and self._waiting:
            turn = self._waiting.pop(workflow.random().randrange(len(self._waiting)))
            self._free -= 1
            turn.set_result(None)


def slots(size: int, randomize: bool) -> asyncio.Semaphore | ShuffledSlots:
    """A run's (or a batch's) max_parallel slots, in its queue order."""
    return ShuffledSlots(size) if randomize else asyncio.Semaphore(size)
