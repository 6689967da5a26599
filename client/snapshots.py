"""A run as the client reads it: its progress query, live heartbeats of running instances, its outcome."""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError

from client.errors import EXIT_CANCELED, EXIT_FAILURE, EXIT_PARTIAL, EXIT_STOPPED, EXIT_SUCCESS
from workflows.sdk.errors import carried_result
from workflows.sdk.models import RunProgress, RunResult

QUERY_TIMEOUT = 3.0


@dataclass
class Snapshot:
    run_id: str
    status: str
    progress: RunProgress | None = None
    heartbeats: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_failure: str | None = None


@dataclass
class Outcome:
    run_id: str
    status: str  # success | partial | failed | stopped | canceled | terminated | timed_out, or stuck (open, its strategy code failing)
    result: RunResult | None = None
    error: str | None = None
    progress: RunProgress | None = None
    early: bool = False
    """The result is the answer the run published early; the run goes on."""

    @property
    def exit_code(self) -> int:
        return {"success": EXIT_SUCCESS, "partial": EXIT_PARTIAL, "stopped": EXIT_STOPPED, "canceled": EXIT_CANCELED}.get(self.status, EXIT_FAILURE)


async def query_progress(handle: WorkflowHandle[Any, Any]) -> RunProgress | None:
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel (Ctrl-C) that
    # arrives as the query returns, and `orchard run` would then follow the run to its end.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(QUERY_TIMEOUT):
            return await handle.query("progress", result_type=RunProgress)
    return None


async def workflow_task_state(handle: WorkflowHandle[Any, Any]) -> tuple[bool, str | None]:
    """(has a workflow task finished yet, the message of the last one if it failed).

    A failing task is a strategy bug, or a worker that does not know the strategy."""
    settled, message = False, None
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            settled, message = True, failure.message + _where(failure.stack_trace)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            settled, message = True, None
    return settled, message


FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _where(stack_trace: str) -> str:
    """Where in the strategy's code a workflow task failed: the innermost frame outside the SDKs,
    Temporal's and Orchard's (ctx saying `ctx._orchestrator` is Pitaya's: the strategy's line that asked)."""
    frames = [f for f in FRAME.findall(stack_trace) if "/temporalio/" not in f[0] and "/workflows/sdk/" not in f[0]]
    return f" (at {frames[-1][0]}:{frames[-1][1]}, in {frames[-1][2]})" if frames else ""


async def snapshot(client: Client, handle: WorkflowHandle[Any, Any]) -> Snapshot:
    desc = await handle.describe()
    status = desc.status.name.lower() if desc.status else "unknown"
    snap = Snapshot(run_id=handle.id, status=status)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return snap
    raw = desc.raw_description
    snap.heartbeats = await _heartbeats(client, raw)
    if raw.pending_workflow_task.attempt > 1:
        _, snap.task_failure = await workflow_task_state(handle)
    if snap.task_failure is None:  # a run whose code fails answers no query (each would wait QUERY_TIMEOUT)
        snap.progress = await query_progress(handle)
    if snap.progress is not None and snap.progress.batch:  # instances past the run's own share run there
        with contextlib.suppress(RPCError):
            batch = await client.get_workflow_handle(snap.progress.batch).describe()
            snap.heartbeats.update(await _heartbeats(client, batch.raw_description))
    return snap


async def _heartbeats(client: Client, raw: DescribeWorkflowExecutionResponse) -> dict[str, dict[str, Any]]:
    """The live heartbeats of a workflow's running instances, by key."""
    beats: dict[str, dict[str, Any]] = {}
    for pending in raw.pending_activities:
        if not pending.activity_id.startswith("instance/") or not pending.heartbeat_details.payloads:
            continue
        with contextlib.suppress(Exception):
            details = (await client.data_converter.decode(pending.heartbeat_details.payloads))[0]
            if isinstance(details, dict):
                details["attempt"] = pending.attempt
                beats[pending.activity_id.removeprefix("instance/")] = details
    return beats


async def outcome_of(handle: WorkflowHandle[Any, Any]) -> Outcome:
    """The outcome of a closed run."""
    try:
        result = await handle.result()
        return Outcome(run_id=handle.id, status=result.status, result=result)
    except WorkflowFailureError as e:
        cause = e.cause
        carried = carried_result(cause)  # a run whose results all failed carries them
        if carried is not None:
            return Outcome(run_id=handle.id, status=carried.status, result=carried)
        if isinstance(cause, CancelledError):
            status, error = "canceled", "the run was canceled"
        elif isinstance(cause, TerminatedError):
            status, error = "terminated", f"the run was terminated: {cause.message}"
        else:
            status = "failed"
            error = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
        return Outcome(run_id=handle.id, status=status, error=error, progress=await query_progress(handle))
