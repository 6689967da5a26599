"""What an instance, a loop's iteration or a pipeline's agent step asks and tells the quota workflow
of its credentials (workflows/coordination/quota.py): their fingerprint (a hash of the worker's
credential variables the agent gets: never a credential), whether they are paused now (then no
agent starts), that another run paused them (then the running agent stops), and that they just hit
a limit (then the caller's workflow waits: workflows/sdk/pauses.py)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from activities.agents.base import AgentPlugin, AgentState
from activities.agents.limits import LimitHit
from activities.heartbeat import alongside
from activities.workspaces.host import run_queue
from workflows.coordination.quota import QuotaWorkflow
from workflows.sdk.models import InstanceResult, TaskSpec
from workflows.sdk.quota import FINGERPRINT_CHARS, QuotaPause, QuotaReport, QuotaState, backoff, quota_id

ASK_TIMEOUT = timedelta(seconds=5)
"""A quota workflow no worker answers for this long counts as not paused: an instance never waits on it."""
SHORTEST_PAUSE = timedelta(seconds=1)
REPORT_TIMEOUT = timedelta(seconds=30)
"""A report the quota workflow does not take this quickly (no worker serves it) leaves the run to pause alone."""


def credential_fingerprint(plugin: AgentPlugin, task: TaskSpec) -> str:
    """A hash of the credentials the agent will use (the variables it gets from this worker, or
    the CLI's own login in this user's home): equal for every run on the same account, "" for an
    agent that names none (a command agent), which pauses on its own."""
    names = sorted({*plugin.forward_env, *task.worker_env})
    if not names:
        return ""
    used = [f"{name}={os.environ[name]}" for name in names if os.environ.get(name)]
    digest = hashlib.sha256("\0".join([plugin.name, *used, f"home={Path.home()}"]).encode())
    return digest.hexdigest()[:FINGERPRINT_CHARS]


ANSWER_KEPT = 1.0
"""Seconds a worker process keeps the quota workflow's answer for credentials: every instance that
starts (or looks, while its agent runs) meanwhile takes it instead of asking the server again (a
fan-out starts tens a second). A pause reported from this process is known to it at once."""

_answers: dict[str, tuple[float, asyncio.Future[QuotaState | None]]] = {}
"""The latest answer (or the question in flight) per credentials: when it was asked, the state."""


async def paused_until(fingerprint: str) -> QuotaState | None:
    """The quota workflow's state when its credentials are paused now; None when they are not
    (or nobody answers within ASK_TIMEOUT: a lost answer must not hold every run). Asked of the
    server at most once per ANSWER_KEPT seconds per credentials in a worker process."""
    if not fingerprint:
        return None
    try:
        client = activity.client()
    except RuntimeError:  # an activity run outside a worker (a test's ActivityEnvironment): nobody to ask
        return None
    now, loop = time.monotonic(), asyncio.get_running_loop()
    asked = _answers.get(fingerprint)
    if asked is None or asked[1].get_loop() is not loop or (asked[1].done() and now - asked[0] >= ANSWER_KEPT):
        asked = now, loop.create_task(_ask(client, fingerprint))
        _answers[fingerprint] = asked
    state = await asyncio.shield(asked[1])  # one instance's cancel does not cancel the others' answer
    return state if state is not None and state.paused_at(datetime.now(UTC)) else None


async def _ask(client: Client, fingerprint: str) -> QuotaState | None:
    """The quota workflow's state, None when it does not run (or does not answer)."""
    handle = client.get_workflow_handle(quota_id(fingerprint))
    try:
        described = await handle.describe(rpc_timeout=ASK_TIMEOUT)
        if described.status != WorkflowExecutionStatus.RUNNING:
            return None
        return await handle.query(QuotaWorkflow.state, rpc_timeout=ASK_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        return None


def _known(state: QuotaState) -> None:
    """What this process just told the quota workflow (or decided alone): its next instances know it at once."""
    answer: asyncio.Future[QuotaState | None] = asyncio.get_running_loop().create_future()
    answer.set_result(state)
    _answers[state.fingerprint] = time.monotonic(), answer


LOOK_EVERY = 3.0
"""How often a running agent's instance looks whether another run paused its credentials."""


@contextlib.asynccontextmanager
async def watching_quota(fingerprint: str, state: AgentState, stop: asyncio.Event) -> AsyncIterator[None]:
    """While the block runs, stop the agent (`stop`) as soon as another run paused these credentials:
    its next request would only meet the limit, and the provider should see none during the pause."""

    async def watch() -> None:
        while state.limit is None:
            await asyncio.sleep(LOOK_EVERY)
            paused = await paused_until(fingerprint)
            if paused is not None and state.limit is None:
                state.limit = LimitHit(paused.reason or "another run on these credentials hit a provider's limit", paused.until)
                state.last_event = "paused with the other runs on these credentials"
                stop.set()

    if not fingerprint:
        yield
        return
    async with alongside(watch()):
        yield


async def report_limit(fingerprint: str, reset_at: datetime, reason: str, run_id: str) -> QuotaState:
    """Tell the quota workflow (started if it is not running) these credentials are paused until
    `reset_at`; its state, whose `until` is the latest reset any run reported."""
    until = max(reset_at, datetime.now(UTC) + SHORTEST_PAUSE)
    report = QuotaReport(until=until, reason=reason, run_id=run_id)
    start = WithStartWorkflowOperation(
        QuotaWorkflow.run,
        QuotaState(fingerprint=fingerprint, until=until, reason=report.reason),
        id=quota_id(fingerprint),
        task_queue=run_queue(activity.info().task_queue),  # a loop's iteration runs on its host's queue, which serves no workflow
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    try:
        state = await asyncio.wait_for(activity.client().execute_update_with_start_workflow(QuotaWorkflow.pause, report, start_workflow_operation=start),
                                       REPORT_TIMEOUT.total_seconds())
    except (TimeoutError, RPCError):  # nobody serves the quota workflow now: this run pauses alone rather than hang
        activity.logger.warning("the quota workflow of credentials %s did not answer; pausing this run alone", fingerprint)
        state = QuotaState(fingerprint=fingerprint, until=until, reason=report.reason)
    _known(state)
    return state


def not_started(paused: QuotaState, fingerprint: str, key: str, task: TaskSpec, session: str | None, pauses: int) -> InstanceResult:
    """An agent that does not start because its credentials are paused: a pause until theirs ends."""
    return InstanceResult(
        success=False, status="failed", key=key, error=paused.reason or "waiting for quota", error_type="quota",
        plugin=task.plugin, model=task.model, session_id=session,
        quota=QuotaPause(until=paused.until, reason=paused.reason, fingerprint=fingerprint, pauses=pauses + 1),
    )


async def pause_for(fingerprint: str, pauses: int, reset_at: datetime | None, reason: str, run_id: str) -> QuotaPause:
    """Until when an agent stopped at a limit waits (its `pauses`-th pause before this one): the
    reset the provider gave (else a backoff), made the pause of every run on these credentials by
    their quota workflow (which may know a later reset)."""
    pauses += 1
    until = reset_at or datetime.now(UTC) + backoff(pauses)
    if fingerprint:
        until = (await report_limit(fingerprint, until, reason, run_id)).until or until
    return QuotaPause(until=until, reason=reason, fingerprint=fingerprint, pauses=pauses)
