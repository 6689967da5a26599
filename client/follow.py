"""Following a run until it ends (or publishes its answer early), drawn by a renderer."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Protocol

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from client.errors import DETACHED_EXIT
from client.render import make_renderer, question_line, task_failure_line
from client.runs import Target
from client.snapshots import Outcome, Snapshot, outcome_of, snapshot
from workflows.sdk.models import RunResult

POLL_SECONDS = 0.5
STRATEGY_FAILURE_PATIENCE = 5.0
"""How long a run whose strategy code keeps failing is followed before the client says so and
exits: the failure repeats until the code is fixed, and the run stays open for a fixed worker."""


class Renderer(Protocol):
    def update(self, snapshot: Snapshot) -> None: ...
    def finish(self, outcome: Outcome) -> None: ...


async def follow(client: Client, run_id: str, renderer: Renderer, early: bool = False, keep_waiting: bool = False) -> Outcome:
    """Render the run until it closes, or with `early` until it publishes its answer (ctx.publish),
    or until its strategy code has kept failing for a while (the outcome is then "stuck");
    returns its outcome."""
    handle = client.get_workflow_handle(run_id, result_type=RunResult)
    closed = asyncio.ensure_future(_closed(handle))
    try:
        return await _follow(client, handle, renderer, closed, early, keep_waiting)
    finally:
        closed.cancel()


async def _closed(handle: WorkflowHandle[RunResult, Any]) -> bool:
    """True as the run (its last run, continued as new) closes: the server answers the result's
    long poll at once, where a poll every POLL_SECONDS saw it up to half a second late. False when
    the long poll failed otherwise (the connection): the loop polls as before."""
    try:
        await handle.result()
    except WorkflowFailureError:
        pass
    except Exception:
        return False
    return True


async def _snapshot_unless_closed(client: Client, handle: WorkflowHandle[RunResult, Any], closed: asyncio.Future[bool]) -> Snapshot | None:
    """The run's snapshot; None once it has closed. A snapshot queries the run, and a query that
    meets the run's end waits for a worker to replay it (0.5 s here): the close is not kept waiting."""
    if closed.done():
        return None if closed.result() else await snapshot(client, handle)
    taking = asyncio.ensure_future(snapshot(client, handle))
    either: list[asyncio.Future[Any]] = [taking, closed]
    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
    if closed.done() and closed.result():
        taking.cancel()
        return None
    return await taking


async def _follow(client: Client, handle: WorkflowHandle[RunResult, Any], renderer: Renderer, closed: asyncio.Future[bool], early: bool,
                  keep_waiting: bool) -> Outcome:
    run_id = handle.id
    asked: set[str] = set()
    failing_since: float | None = None
    while True:
        snap = await _snapshot_unless_closed(client, handle, closed)
        if snap is None or snap.status != "running":
            break
        renderer.update(snap)
        failing_since = (failing_since or time.monotonic()) if snap.task_failure else None
        if failing_since is not None and not keep_waiting and time.monotonic() - failing_since >= STRATEGY_FAILURE_PATIENCE:
            outcome = Outcome(run_id=run_id, status="stuck", error=task_failure_line(snap), progress=snap.progress)
            renderer.finish(outcome)
            return outcome
        questions = snap.progress.questions if snap.progress else []
        for q in questions:  # said once per question, whatever the output mode
            if q.key not in asked:
                asked.add(q.key)
                print(question_line(run_id, q, len(questions) > 1), file=sys.stderr, flush=True)
        published = snap.progress.published if snap.progress else None
        if early and published is not None:
            outcome = Outcome(run_id=run_id, status=published.status, result=published, early=True)
            renderer.finish(outcome)
            return outcome
        if closed.done():  # the long poll failed (the connection): a poll as before
            await asyncio.sleep(POLL_SECONDS)
        else:
            await asyncio.wait([closed], timeout=POLL_SECONDS)
    outcome = await outcome_of(handle)
    renderer.finish(outcome)
    return outcome


async def follow_and_report(target: Target, run_id: str, output: str, header: str, early: bool = False, keep_waiting: bool = False) -> int:
    """Follow until the run ends (or, if `early`, until it publishes its answer); Ctrl-C detaches
    from the run, which goes on. Returns the exit code."""
    renderer = make_renderer(output, header, target.ui_link(run_id))
    try:
        outcome = await follow(target.client, run_id, renderer, early, keep_waiting)
    except asyncio.CancelledError:
        renderer.close()
        print(f"\norchard: detached; run {run_id} goes on. Watch it: orchard watch {run_id}; cancel it: orchard cancel {run_id}", file=sys.stderr)
        return DETACHED_EXIT
    finally:
        renderer.close()
    if outcome.early:
        print(f"orchard: run {run_id} goes on; watch it: orchard watch {run_id}", file=sys.stderr)
    return outcome.exit_code
