"""`enqueue_lease`: ask a lock or semaphore for a slot, starting its workflow if it is not running."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from workflows.coordination.semaphores import EnqueueLeaseInput, LeaseStatus, SemaphoreState, SemaphoreWorkflow, semaphore_id


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
