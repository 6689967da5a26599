"""`enqueue_lease`: ask a lock or semaphore for a slot, starting its workflow if it is not running;
`until_fresh`: what a step under a slot waits for before it touches what the slot guards."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from workflows.coordination.semaphores import SemaphoreWorkflow, patience
from workflows.coordination.states import SemaphoreState
from workflows.sdk.entities import EnqueueLeaseInput, HeldLease, LeaseStatus, semaphore_id

FRESHNESS_CHECK_SECONDS = 0.5


@activity.defn
async def enqueue_lease(inp: EnqueueLeaseInput) -> LeaseStatus:
    """Update-with-start: one call that starts the slots' workflow (on this worker's task queue)
    or reaches the running one; retrying it is safe, a request is known by its token."""
    start = WithStartWorkflowOperation(
        SemaphoreWorkflow.run,
        SemaphoreState(name=inp.name, repo=inp.repo, max=inp.request.max),
        id=semaphore_id(inp.repo, inp.name),
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await activity.client().execute_update_with_start_workflow(SemaphoreWorkflow.enqueue, inp.request, start_workflow_operation=start)


async def until_fresh(leases: list[HeldLease]) -> None:
    """Returns once every lease is held with fresh beats. A holder whose worker was down may come
    back after its patience ran out, before its semaphore (on a worker that was down too) has taken
    the slot back: its retried step must not run meanwhile. So it waits for the verdict: fresh beats
    again, or the slot taken back, and then the run cancels this step."""
    for lease in leases:
        handle = activity.client().get_workflow_handle(lease.workflow_id)
        while True:
            try:
                state = await handle.query(SemaphoreWorkflow.state)
            except (RPCError, WorkflowQueryFailedError):  # no worker answers it yet: no verdict either
                await asyncio.sleep(FRESHNESS_CHECK_SECONDS)
                continue
            holder = next((h for h in state.holders if h.token == lease.token), None)
            if holder is not None and (state.heartbeat is None or datetime.now(UTC) < holder.beat + patience(state.heartbeat)):
                break
            await asyncio.sleep(FRESHNESS_CHECK_SECONDS)
