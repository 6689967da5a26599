"""Events between runs on a repository: `pipeline:build:complete`, `bug:created`.

A run that waits for events (`await ctx.wait_for_event(patterns, timeout)`, a runbook guard's
`wake_on`, a queue worker's `wake_on`) says so in its search attribute `OrchardWaitsFor` (the
patterns, rendered), and waits on a signal at no cost. `ctx.emit(event)` (a runbook pipeline's
ends, `orchard runbook emit EVENT`) runs an activity that finds the running runs on the
repository whose patterns match and signals them.

An event is words separated by `:`; a pattern is the same, where a word may be `*` (any one word).
(A runbook's patterns may hold template variables, rendered before they match: workflows/runbooks/events.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.visibility import SA_WAITS_FOR

EVENT_SIGNAL = "orchard_event"


def matches(pattern: str, event: str) -> bool:
    """Whether a (rendered) pattern matches an event, word by word."""
    want, got = pattern.split(":"), event.split(":")
    return len(want) == len(got) and all(w == "*" or w == g for w, g in zip(want, got, strict=True))


class EmitInput(BaseModel):
    repo: str
    events: list[str]
    sender: str = ""
    """The run that emits them (it is not signalled itself)."""


class Events:
    """The events a run was sent, and what it waits for."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def take(self, event: str) -> None:
        self.seen.append(event)

    def since(self, start: int, patterns: list[str]) -> str | None:
        """The first event after the first `start` that matches a pattern."""
        return next((e for e in self.seen[start:] if any(matches(p, e) for p in patterns)), None)

    @contextlib.contextmanager
    def listening(self, patterns: list[str]) -> Iterator[Callable[[], str | None]]:
        """While the block runs the run is found by emitters of these patterns; yields what arrived."""
        start = len(self.seen)
        workflow.upsert_search_attributes([SA_WAITS_FOR.value_set(sorted(set(patterns)))])
        try:
            yield lambda: self.since(start, patterns)
        finally:
            workflow.upsert_search_attributes([SA_WAITS_FOR.value_unset()])

    async def wait(self, patterns: list[str], timeout: float | None) -> str | None:
        """The first event from now on that matches a pattern, or None after `timeout` seconds."""
        with self.listening(patterns) as arrived:
            with contextlib.suppress(asyncio.TimeoutError):
                await workflow.wait_condition(lambda: arrived() is not None, timeout=timeout)
            return arrived()


async def emit(repo: str, events: list[str]) -> int:
    """Send `events` to the runs on `repo` waiting for them; how many signals were sent."""
    sent: int = await workflow.execute_activity(
        "emit_event", EmitInput(repo=repo, events=events, sender=workflow.info().workflow_id), result_type=int,
        start_to_close_timeout=timedelta(seconds=60), retry_policy=INFRA_RETRY, summary=f"emit {', '.join(events)}",
    )
    return sent
