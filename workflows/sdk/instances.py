"""One agent instance as a workflow runs it: the `run_instance` activity, with its timeouts and
retries, and what its failure means as a result. A strategy's own run and an instance batch
(workflows/sdk/batches.py) both run instances this way; the activity is referred to by name so no
activity code enters the workflow sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.workflow import ActivityCancellationType

from workflows.sdk.models import InstanceInput, InstanceResult
from workflows.sdk.pauses import OnPause, pausing

HEARTBEAT_TIMEOUT = timedelta(seconds=15)
"""A lost worker is noticed this quickly; instance activities heartbeat every ~2 s."""

INFRA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=["BadInput"],
)
"""Infrastructure failures (git lock, lost worker) retry; agent failures come back as results."""


async def run_instance(inp: InstanceInput, on_pause: OnPause | None = None) -> InstanceResult:
    """The instance's result; an activity that failed for good is a failed result, not an error.
    An agent stopped at a provider's limit is no failure either: the instance waits on a durable
    timer until the limit resets (`on_pause(until)`, then `on_pause(None)`) and runs again,
    resuming the agent's session (workflows/sdk/pauses.py); what the paused attempts spent counts
    in its result. Raises CancelledError when the run (or batch) is canceled."""

    def attempt(session: str | None, pauses: int) -> Awaitable[InstanceResult]:
        same = session == inp.resume_session and pauses == inp.quota_pauses
        return _attempt(inp if same else inp.model_copy(update={"resume_session": session, "quota_pauses": pauses}))

    return await pausing(attempt, lambda result: result, on_pause, inp.resume_session, inp.quota_pauses)


async def _attempt(inp: InstanceInput) -> InstanceResult:
    try:
        result: InstanceResult = await workflow.execute_activity(
            "run_instance",
            inp,
            result_type=InstanceResult,
            activity_id=f"instance/{inp.key}",
            summary=f"{inp.task.plugin} instance {inp.key}",
            start_to_close_timeout=timedelta(seconds=inp.task.timeout + 300),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=INFRA_RETRY,
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        return result
    except asyncio.CancelledError:
        raise
    except ActivityError as e:
        cause = e.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
        canceled = isinstance(cause, CancelledError)
        return InstanceResult(
            success=False,
            status="canceled" if canceled else "failed",
            key=inp.key,
            error=message,
            error_type="canceled" if canceled else "infrastructure",
            plugin=inp.task.plugin,
            model=inp.task.model,
        )
