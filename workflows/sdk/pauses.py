"""Waiting out a provider's limit in a workflow: the one loop by which an instance (instances.py),
a loop's iteration and a pipeline's agent step (workflows/loops/iterations.py) pause. Their
activity stops the agent at the first sign of a limit and answers with a result whose `quota` says
until when; the workflow waits on a durable timer (no activity attempt counted as failed, nothing
the caller counts as a failure), then runs the work again resuming the agent's session. What the
paused attempts spent counts in the final result. A batch of instances and a child run tell their
parent while they wait (QUOTA_WAIT_SIGNAL), so the parent's progress says so too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from temporalio import workflow

from workflows.sdk.models import InstanceResult
from workflows.sdk.quota import MAX_QUOTA_PAUSES, QUOTA_WAIT_SIGNAL, QuotaWait, backoff

T = TypeVar("T")

OnPause = Callable[[datetime | None], None]
"""Told `until` when the work starts waiting for a provider's limit, None when it stops waiting."""

TELL_PARENT = "quota-wait-to-parent"
"""The patch under which a batch of instances and a child run tell their parent of their waits."""


async def pausing(attempt: Callable[[str | None, int], Awaitable[T]], agent: Callable[[T], InstanceResult], on_pause: OnPause | None = None,
                  session: str | None = None, pauses: int = 0) -> T:
    """`attempt(resume_session, quota_pauses)`'s answer once its agent (`agent(answer)`) did not stop
    at a provider's limit, or stopped there more than MAX_QUOTA_PAUSES times (then its `quota`
    error stands as a failure). Between attempts the workflow sleeps until the limit's reset (a
    backoff when none was said). Raises asyncio.CancelledError when the run is canceled."""
    spent: list[InstanceResult] = []
    while True:
        answer = await attempt(session, pauses)
        result = agent(answer)
        pause = result.quota
        if pause is None or pause.pauses > MAX_QUOTA_PAUSES:
            _with_spent(result, spent)
            return answer
        spent.append(result.model_copy())
        await _wait_out(pause.until, pause.pauses, on_pause)
        session, pauses = result.session_id or session, pause.pauses


async def _wait_out(until: datetime | None, pauses: int, on_pause: OnPause | None) -> None:
    now = workflow.now()
    until = until if until is not None else now + backoff(pauses)
    if on_pause is not None:
        on_pause(until)
    try:
        if until > now:
            await workflow.sleep(until - now, summary=f"waiting for quota until {until:%H:%M:%S} UTC")
    except asyncio.CancelledError:  # not in a `finally`: a worker evicting the run closes it outside the workflow's loop
        if on_pause is not None:
            on_pause(None)
        raise
    if on_pause is not None:
        on_pause(None)


def _with_spent(result: InstanceResult, paused: list[InstanceResult]) -> None:
    """The final result counts the tokens and cost of the attempts that stopped at a limit."""
    result.quota = None
    if not paused:
        return
    result.input_tokens += sum(r.input_tokens for r in paused)
    result.output_tokens += sum(r.output_tokens for r in paused)
    result.cost_usd = round(result.cost_usd + sum(r.cost_usd for r in paused), 6)
    result.cost_estimated = result.cost_estimated or any(r.cost_estimated for r in paused)
    result.metrics["quota_pauses"] = len(paused)


class ParentTeller:
    """Tells the run's parent (a batch's run, a child run's parent) that `key` waits for quota until
    `until` (None: no more), in order, so its progress and memo say so. A parent that is gone is no
    matter: the wait goes on."""

    def __init__(self) -> None:
        self._sending: asyncio.Task[None] | None = None

    def tell(self, key: str, until: datetime | None) -> None:
        parent = workflow.info().parent
        if parent is None or not workflow.patched(TELL_PARENT):
            return
        wait = QuotaWait(run_id=workflow.info().workflow_id, key=key, until=until)
        before = self._sending

        async def send() -> None:
            if before is not None:
                await before
            with contextlib.suppress(Exception):  # the parent closed meanwhile
                await workflow.get_external_workflow_handle(parent.workflow_id).signal(QUOTA_WAIT_SIGNAL, wait)

        self._sending = asyncio.create_task(send())

    async def sent(self) -> None:
        """Once every wait told so far has been sent (before the run ends)."""
        if self._sending is not None:
            await self._sending
