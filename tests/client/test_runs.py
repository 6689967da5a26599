"""Starting a run beside a worker that is still coming up (client/runs.py): a worker that fails to
start undoes the run."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from client.embedded.dev_settings import DevServerError
from client.runs import Target, start_run
from tests.conftest import SCRIPTED_REPO
from workflows.sdk.models import RunInput, TaskDefaults
from workflows.strategies import BUILTIN_STRATEGIES


async def test_a_run_started_beside_a_worker_that_fails_to_start_is_undone(client):
    queue = f"nobody-{uuid.uuid4().hex[:6]}"
    target = Target(client=client, embedded=True, address="test", task_queue=queue)
    serving: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    run_input = RunInput(prompt="x", repo=SCRIPTED_REPO, base_branch="main", defaults=TaskDefaults(agent_command="true"))
    started = asyncio.create_task(start_run(target, BUILTIN_STRATEGIES["simple"], run_input, queue, serving))
    while not (runs := [run async for run in client.list_workflows(f"TaskQueue = '{queue}'")]):  # it starts before its worker is up
        await asyncio.sleep(0.05)
    assert runs[0].status == WorkflowExecutionStatus.RUNNING
    serving.set_exception(DevServerError("the background worker exited at start"))
    with pytest.raises(DevServerError, match="exited at start"):
        await started
    try:
        status = (await client.get_workflow_handle(runs[0].id).describe()).status
    except RPCError:  # deleted already
        return
    assert status == WorkflowExecutionStatus.TERMINATED
