"""What workers that died on this host left behind, cleared by the next worker at its start.

An agent whose worker was killed re-parents to init and works on; Temporal notices the dead
attempt only when its heartbeat timeout passes, and then retries it. The next worker on the host
does both at once: it kills the processes every dead worker's records name, and ends their
activity attempts (with the last heartbeat kept, so a retry resumes the agent's session), so the
retry, or the cancel a person asked for, goes ahead now. Records of live workers are left alone.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.git.overlay import sweep_bases
from activities.git.workspace import remove_workspace
from activities.paths import running_dir
from activities.runners.leftovers import kill_orphan
from activities.runners.local import ActivityAttempt, RunningRecord
from activities.workspaces.removals import sweep_removals

WORKER_DIED = "WorkerDied"


async def sweep_orphans(client: Client | None) -> int:
    """Kill what dead workers left running and end their attempts; returns how many were swept."""
    swept = 0
    for path in sorted(running_dir().glob("*.json")):
        try:
            record = RunningRecord.model_validate_json(path.read_text())
        except (OSError, ValidationError):
            continue
        if record.worker.running():
            continue
        await kill_orphan(path)
        swept += 1
        if client is not None and record.attempt is not None:
            with contextlib.suppress(RPCError):  # e.g. the run was deleted
                if await end_attempt(client, record.attempt):
                    for leftover in record.leftovers:
                        await remove_workspace(Path(leftover))
    await sweep_removals()  # before the bases: a dead worker's unfinished removals still count them as in use
    await sweep_bases()
    return swept


async def end_attempt(client: Client, attempt: ActivityAttempt) -> bool:
    """Fail the dead attempt as retryable (canceled, if a cancel was asked for), if it is still the
    activity's current attempt. True when no retry will use its workspace."""
    desc = await client.get_workflow_handle(attempt.workflow_id, run_id=attempt.workflow_run_id).describe()
    if desc.status != WorkflowExecutionStatus.RUNNING:
        return True
    pending = next((p for p in desc.raw_description.pending_activities if p.activity_id == attempt.activity_id), None)
    if pending is None or pending.attempt != attempt.attempt:
        return pending is None  # ended (None), or retried already: the retry has the workspace
    # The run's next workflow task would wait out the dead worker's sticky queue (5 s) first.
    await client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(namespace=client.namespace, execution=WorkflowExecution(workflow_id=attempt.workflow_id, run_id=attempt.workflow_run_id))
    )
    handle = client.get_async_activity_handle(task_token=bytes.fromhex(attempt.task_token))
    if pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
        await handle.report_cancellation()
        return True
    details = await client.data_converter.decode(pending.heartbeat_details.payloads) if pending.heartbeat_details.payloads else []
    logging.info("ending attempt %d of %s of run %s: its worker died", attempt.attempt, attempt.activity_id, attempt.workflow_id)
    await handle.fail(ApplicationError("the worker running it died", type=WORKER_DIED), last_heartbeat_details=details)
    return False
