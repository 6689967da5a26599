"""`take_turn`: the activity a round-robin run asks its rotation with. It starts the rotation on
its own worker's task queue when none runs, hands out turns in order, and a retried call for a run
gets that run's turn again."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.coordination.rotation import take_turn
from tests.activities.coordination.helpers import activity_on
from workflows.coordination.rotation import RotationWorkflow, rotation_id
from workflows.coordination.states import RotationState
from workflows.sdk.entities import TakeTurnInput


async def test_take_turn_starts_the_rotation_and_hands_each_run_the_next_option(client: Client):
    queue, repo, name = f"rotation-{uuid.uuid4().hex[:6]}", "/scripted/rotation", f"exp-{uuid.uuid4().hex[:8]}"
    steps = activity_on(client, queue)

    async def turn(run_id: str) -> tuple[int, str, str]:
        got = await steps.run(take_turn, TakeTurnInput(repo=repo, run_id=run_id, rotation=name, options=["a", "b"]))
        return got.number, got.choice, got.run_id

    async with Worker(client, task_queue=queue, workflows=[RotationWorkflow]):
        assert [await turn(r) for r in ("run-1", "run-2", "run-3")] == [(0, "a", "run-1"), (1, "b", "run-2"), (2, "a", "run-3")]
        assert await turn("run-2") == (1, "b", "run-2")  # a retried call: the run's own turn, not a new one
        handle = client.get_workflow_handle(rotation_id(repo, name))
        desc = await handle.describe()
        assert (desc.status, desc.task_queue) == (WorkflowExecutionStatus.RUNNING, queue)  # started by the first call, on the asking worker's queue
        state = await handle.query(RotationWorkflow.state, result_type=RotationState)
        assert (state.next_number, [t.run_id for t in state.turns]) == (3, ["run-1", "run-2", "run-3"])
        await handle.terminate("the test is over")
