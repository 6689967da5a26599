"""Work that must run on the host holding a workspace (a loop's, a pipeline's): each worker polls
its host's task queue `<queue>@<host>` beside the run's, and the run sends such work there. A host
that no worker serves any more (none took the task within `timeout`, schedule-to-start) is left
for another, claimed by `claim_loop_host`, which starts the workspace again from the run's last
finished commit. On a remote (`move_when_lost`) a host whose heartbeats stopped mid-work is left
at once too: the next host fetches what was pushed from the remote, so nothing is gained by
waiting `timeout` for the lost one; the work's other failures are then tried again here, as
Temporal would have (INFRA_RETRY)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError, TimeoutType
from temporalio.workflow import ActivityCancellationType

from workflows.sdk.errors import StrategyError
from workflows.sdk.instances import HEARTBEAT_TIMEOUT, INFRA_RETRY

HOST_MOVES = 5
"""Hosts a piece of work may try before the run gives up (each lost host: `timeout` waited)."""


class HostWorkFailed(StrategyError):
    """The work ran and failed for good, or no host took it; the message says which."""


@dataclass
class HostPlace:
    queue: str | None
    """The host queue holding the workspace (None: none claimed yet, or the last one is gone)."""
    timeout: float
    """Seconds a task waits for the host's worker before the run moves to another host."""
    move_when_lost: bool = False
    """The run is on a remote: a host whose heartbeats stopped is left for another at once."""


ONE_TRY = RetryPolicy(maximum_attempts=1)
"""Work that moves when its host is lost is tried by the workflow, so that a heartbeat timeout reaches it."""


def _retryable(cause: BaseException | None) -> bool:
    """A failure Temporal would have tried again under INFRA_RETRY."""
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable and cause.type not in (INFRA_RETRY.non_retryable_error_types or ())
    return isinstance(cause, TimeoutError) and cause.type == TimeoutType.START_TO_CLOSE


async def run_on_host(place: HostPlace, activity: str, make: Callable[[int], Any], result_type: type, start_to_close: float, summary: str,
                      activity_id: Callable[[int], str]) -> Any:
    """`activity` with the input `make(move)` on the place's host; `move` counts the hosts tried.
    Raises asyncio.CancelledError when the run was canceled, HostWorkFailed when it cannot be done."""
    move = retried = 0
    while move < HOST_MOVES:
        if place.queue is None:
            place.queue = await workflow.execute_activity(
                "claim_loop_host", result_type=str, start_to_close_timeout=timedelta(seconds=60), retry_policy=INFRA_RETRY,
                summary="find a host for the workspace",
            )
        try:
            return await workflow.execute_activity(
                activity, make(move), result_type=result_type, task_queue=place.queue, activity_id=activity_id(move), summary=summary,
                schedule_to_start_timeout=timedelta(seconds=place.timeout), start_to_close_timeout=timedelta(seconds=start_to_close),
                heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=ONE_TRY if place.move_when_lost else INFRA_RETRY,
                cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
        except ActivityError as e:
            cause = e.cause
            if isinstance(cause, CancelledError):
                raise asyncio.CancelledError("the run was canceled") from None
            if isinstance(cause, TimeoutError) and cause.type == TimeoutType.SCHEDULE_TO_START:
                workflow.logger.warning("%s: no worker on %s took it within %gs; moving to another host", summary, place.queue, place.timeout)
                place.queue, move = None, move + 1
                continue
            if place.move_when_lost and isinstance(cause, TimeoutError) and cause.type == TimeoutType.HEARTBEAT:
                workflow.logger.warning("%s: %s stopped heartbeating (lost); moving to another host", summary, place.queue)
                place.queue, move = None, move + 1
                continue
            if place.move_when_lost and _retryable(cause) and retried + 1 < (INFRA_RETRY.maximum_attempts or 1):
                retried += 1
                await workflow.sleep(min(2 ** (retried - 1), 30))  # INFRA_RETRY's backoff
                continue
            raise HostWorkFailed(cause.message if isinstance(cause, ApplicationError) else str(cause or e)) from None
    raise HostWorkFailed(f"no host took it after {HOST_MOVES} tries of {place.timeout:g}s each")
