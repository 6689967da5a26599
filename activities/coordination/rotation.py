"""`take_turn`: ask a rotation workflow for the next turn, starting it if it is not running."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from workflows.coordination.rotation import RotationWorkflow, rotation_id
from workflows.coordination.states import RotationState, TurnRequest
from workflows.sdk.entities import TakeTurnInput, Turn


@activity.defn
async def take_turn(inp: TakeTurnInput) -> Turn:
    """Update-with-start: one call that starts the rotation (on this worker's task queue) or
    reaches the running one; retrying it is safe, the rotation answers a run once."""
    start = WithStartWorkflowOperation(
        RotationWorkflow.run,
        RotationState(rotation=inp.rotation, repo=inp.repo),
        id=rotation_id(inp.repo, inp.rotation),
        task_queue=activity.info().task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return await activity.client().execute_update_with_start_workflow(
        RotationWorkflow.take_turn, TurnRequest(run_id=inp.run_id, options=inp.options), start_workflow_operation=start
    )
