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
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowQueryFailedError
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


async def paused_until(fingerprint: str) -> QuotaState | None:
    """The quota workflow's state when its credentials are paused now; None when they are not
    (or nobody answers within ASK_TIMEOUT: a lost answer must not hold every run)."""
    if not fingerprint:
        return None
    try:
        client = activity.client()
    except RuntimeError:  # an activity run outside a worker (a test's ActivityEnvironment): nobody to ask
        return None
    handle = client.get_workflow_handle(quota_id(fingerprint))
    try:
        described = await handle.describe(rpc_timeout=ASK_TIMEOUT)
        if described.status != WorkflowExecutionStatus.RUNNING:
            return None
        state = await handle.query(QuotaWorkflow.state, rpc_timeout=ASK_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        return None
    return state if state.paused_at(datetime.now(UTC)) else None


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
        return await asyncio.wait_for(activity.client().execute_update_with_start_workflow(QuotaWorkflow.pause, report, start_workflow_operation=start),
                                      REPORT_TIMEOUT.total_seconds())
    except (TimeoutError, RPCError):  # nobody serves the quota workflow now: this run pauses alone rather than hang
        activity.logger.warning("the quota workflow of credentials %s did not answer; pausing this run alone", fingerprint)
        return QuotaState(fingerprint=fingerprint, until=until, reason=report.reason)


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
