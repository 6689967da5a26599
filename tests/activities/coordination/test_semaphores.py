"""`enqueue_lease` (a run asks a lock or semaphore for a slot) and `until_fresh` (what a step under
a slot waits for), against the semaphore workflow on a worker of the test's own."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.coordination.semaphores import enqueue_lease, until_fresh
from orchard_common.sandbox import sandbox_runner
from tests.activities.coordination.helpers import Holder, activity_on
from tests.scripted import until
from workflows.coordination.semaphores import SemaphoreWorkflow
from workflows.coordination.states import SemaphoreState
from workflows.sdk.entities import EnqueueLeaseInput, HeldLease, LeaseRequest, LeaseStatus, semaphore_id

REPO = "/scripted/semaphores"


async def test_enqueue_lease_starts_the_semaphore_grants_up_to_max_and_queues_the_rest(client: Client):
    queue, name = f"leases-{uuid.uuid4().hex[:6]}", f"agents-{uuid.uuid4().hex[:8]}"
    steps = activity_on(client, queue)

    async def ask(token: str) -> LeaseStatus:
        return await steps.run(enqueue_lease, EnqueueLeaseInput(repo=REPO, name=name, request=LeaseRequest(token=token, holder=f"run-{token}", max=2)))

    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow], workflow_runner=sandbox_runner()):
        assert [await ask(t) for t in ("t1", "t2", "t3", "t4")] == [
            LeaseStatus(granted=True), LeaseStatus(granted=True), LeaseStatus(granted=False, position=1), LeaseStatus(granted=False, position=2)]
        assert await ask("t3") == LeaseStatus(granted=False, position=1)  # a retried activity: the same request, not a second place in line
        assert await ask("t1") == LeaseStatus(granted=True)
        handle = client.get_workflow_handle(semaphore_id(REPO, name))
        desc = await handle.describe()
        assert (desc.status, desc.task_queue) == (WorkflowExecutionStatus.RUNNING, queue)  # started by the first request, on the asking worker's queue
        state = await handle.query(SemaphoreWorkflow.state, result_type=SemaphoreState)
        assert ([h.token for h in state.holders], [w.token for w in state.waiters], state.max) == (["t1", "t2"], ["t3", "t4"], 2)
        for token in ("t3", "t4", "t1", "t2"):  # waiters give up, holders let go: nobody is left, and it ends
            await handle.signal(SemaphoreWorkflow.release, token)
        assert await until(lambda: _ended(client, name))


async def test_a_step_under_a_slot_starts_only_while_its_run_holds_the_slot(client: Client, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("activities.coordination.semaphores.FRESHNESS_CHECK_SECONDS", 0.05)  # it checks every 0.5 s
    queue, name = f"leases-{uuid.uuid4().hex[:6]}", f"lock-{uuid.uuid4().hex[:8]}"
    steps = activity_on(client, queue)
    lock = semaphore_id(REPO, name)
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow, Holder], workflow_runner=sandbox_runner()):
        holder = await client.start_workflow(Holder.run, id=f"holder-{uuid.uuid4().hex[:8]}", task_queue=queue)
        for token in ("first", "second"):
            await steps.run(enqueue_lease, EnqueueLeaseInput(repo=REPO, name=name, request=LeaseRequest(token=token, holder=holder.id, heartbeat=30)))
        await asyncio.wait_for(steps.run(until_fresh, [HeldLease(workflow_id=lock, token="first")]), 5)  # held, beating: at once
        step = asyncio.create_task(steps.run(until_fresh, [HeldLease(workflow_id=lock, token="second")]))
        await asyncio.sleep(0.3)  # several of its checks
        assert not step.done()  # "second" waits in line: its step must not touch what the lock guards
        await client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, "first")
        await asyncio.wait_for(step, 5)  # granted now: the step goes on
        assert await until(lambda: holder.query(Holder.events)) == ["granted second"]  # and its run is told (a signal, maybe a moment later)
        await client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, "second")
        await holder.terminate("the test is over")


async def _ended(client: Client, name: str) -> bool:
    return (await client.get_workflow_handle(semaphore_id(REPO, name)).describe()).status == WorkflowExecutionStatus.COMPLETED
