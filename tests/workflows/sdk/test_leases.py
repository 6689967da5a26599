"""ctx.hold: locks and semaphores shared by every run on a repository, as Temporal workflows."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from itertools import pairwise

import pytest
from temporalio import workflow
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecution, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.coordination.semaphores import enqueue_lease
from orchard_common.sandbox import sandbox_runner
from tests.conftest import SCRIPTED_REPO, start_scripted
from tests.scripted import Script, until
from workflows.coordination.semaphores import SemaphoreWorkflow
from workflows.coordination.states import SemaphoreState
from workflows.sdk.entities import LEASE_SIGNAL, EnqueueLeaseInput, LeaseEvent, LeaseRequest, LeaseStatus, semaphore_id
from workflows.sdk.models import RunProgress


async def _phase_is(handle, phase: str) -> bool:  # type: ignore[no-untyped-def]
    return (await handle.query("progress", result_type=RunProgress)).phase == phase


async def _ended(handle) -> bool:  # type: ignore[no-untyped-def]
    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


def _spans(results) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    return sorted((r.instances[0].metadata["entered"], r.instances[0].metadata["left"]) for r in results)


async def _hold(client, queue, name, count, **params):  # type: ignore[no-untyped-def]
    """`count` runs that each hold the lease while an instance runs for 0.1 s."""
    handles = await asyncio.gather(*(
        start_scripted(client, queue, "holding", Script(delays={"work": 0.1}), params={"name": name, "work": True, **params}) for _ in range(count)))
    return handles, await asyncio.gather(*(h.result() for h in handles))


async def test_a_lock_is_held_by_one_run_at_a_time_first_come_first_served(client, scripted_queue):
    name = f"lock-{uuid.uuid4().hex[:8]}"
    handles, results = await _hold(client, scripted_queue, name, 4)
    spans = _spans(results)
    assert all(left <= next_entered for (_, left), (next_entered, _) in pairwise(spans))  # never two at once
    assert sorted(r.instances[0].metadata["position"] for r in results) == [0, 1, 2, 3]  # all but the first waited in line
    state = await client.get_workflow_handle(semaphore_id(SCRIPTED_REPO, name)).query("state", result_type=SemaphoreState)
    assert (state.holders, state.waiters, state.granted) == ([], [], 4)


@pytest.mark.slow  # the fast suite has the lock's test; this one adds a second of real time
async def test_a_semaphore_lets_max_runs_hold_it_at_once(client, scripted_queue):
    name = f"agents-{uuid.uuid4().hex[:8]}"
    _, results = await _hold(client, scripted_queue, name, 5, max=2)
    spans = _spans(results)
    most = max(sum(1 for e, lft in spans if e <= t < lft) for t, _ in spans)
    assert most == 2


@pytest.mark.slow  # seconds of real heartbeats, and margins wide enough for a loaded machine
async def test_a_holder_whose_beats_stop_loses_the_lease_to_the_next_in_line(client, scripted_queue):
    name = f"stale-{uuid.uuid4().hex[:8]}"
    first = await start_scripted(client, scripted_queue, "holding", Script(), params={"name": name, "hold_seconds": 600, "heartbeat": 0.5})
    await until(lambda: _phase_is(first, f"holding {name}"))
    second = await start_scripted(client, scripted_queue, "holding", Script(), params={"name": name, "hold_seconds": 0.1, "heartbeat": 0.5})
    await asyncio.sleep(2.5)  # longer than the 2 s a holder may go without a beat
    assert await _phase_is(second, f"waiting for {name}")  # the first still beats
    await first.terminate("a worker that died, in effect: no more beats")
    result = await asyncio.wait_for(second.result(), timeout=10)
    assert result.instances[0].metadata["position"] == 1
    state = await client.get_workflow_handle(semaphore_id(SCRIPTED_REPO, name)).query("state", result_type=SemaphoreState)
    assert [s.holder for s in state.stale] == [first.id]
    silence = re.fullmatch(r"no heartbeat for (\d+\.\d)s \(every 0\.5s expected\)", state.stale[0].reason)
    assert silence and 2.0 <= float(silence[1]) < 6  # at least the patience; a loaded machine adds to it


@pytest.mark.slow  # a second of real time
async def test_a_holder_past_its_hold_timeout_loses_the_lease_and_is_told(client, scripted_queue):
    name = f"timeout-{uuid.uuid4().hex[:8]}"
    handle = await start_scripted(client, scripted_queue, "holding", Script(), params={"name": name, "hold_seconds": 1.5, "hold_timeout": 0.3})
    result = await handle.result()  # held well past its timeout: a loaded machine's timers fire late, not never
    assert re.fullmatch(r"held for (0\.[3-9]|1\.[0-4])s, past its timeout of 0\.3s", result.instances[0].metadata["lost"] or ""), result.instances[0].metadata


@pytest.mark.slow  # seconds of real time
async def test_a_silent_holder_loses_its_slot_though_a_late_beat_comes_and_its_steps_wait_for_the_verdict(client):
    """The semaphore's worker is down while the holder's patience runs out; when it comes back, the
    holder's late beat reaches it in the same task as its own timer (signals are handled first),
    and the holder loses the slot all the same. A step of the holder's that starts meanwhile (its
    activity retried) waits rather than touching what the slot guards."""
    from temporalio.testing import ActivityEnvironment
    from temporalio.worker import Worker

    from activities.coordination.semaphores import until_fresh
    from workflows.coordination.semaphores import SemaphoreWorkflow
    from workflows.sdk.entities import HeldLease, LeaseRequest

    queue, name = f"semaphore-{uuid.uuid4().hex[:6]}", f"late-{uuid.uuid4().hex[:8]}"
    state = SemaphoreState(name=name, repo=SCRIPTED_REPO, heartbeat=0.5)
    held = [HeldLease(workflow_id=semaphore_id(SCRIPTED_REPO, name), token="t1")]
    steps = ActivityEnvironment(client)
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow], workflow_runner=sandbox_runner()):
        # As enqueue_lease asks: update-with-start (a semaphore started idle would end at once).
        start = WithStartWorkflowOperation(SemaphoreWorkflow.run, state, id=semaphore_id(SCRIPTED_REPO, name), task_queue=queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        await client.execute_update_with_start_workflow(SemaphoreWorkflow.enqueue, LeaseRequest(token="t1", holder="gone-run", heartbeat=0.5),
                                                        start_workflow_operation=start)
        handle = client.get_workflow_handle(semaphore_id(SCRIPTED_REPO, name))
        await asyncio.wait_for(steps.run(until_fresh, held), 5)  # a step under a fresh lease starts at once
    await asyncio.sleep(3.5)  # well past the patience of 2 s, with no worker to fire the timer
    await handle.signal(SemaphoreWorkflow.beat, "t1")
    step = asyncio.create_task(steps.run(until_fresh, held))  # a retried step of the silent holder, before the verdict
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow], workflow_runner=sandbox_runner()):
        async def taken_back() -> SemaphoreState | None:
            now = await handle.query("state", result_type=SemaphoreState)
            return now if now.stale else None

        now = await until(taken_back)
        assert [s.holder for s in now.stale] == ["gone-run"] and now.holders == []
        silence = re.match(r"no heartbeat for (\d+\.\d)s", now.stale[0].reason)
        assert silence and float(silence[1]) >= 3.5  # silent since it was granted: the late beat did not count
        await asyncio.sleep(1)
        assert not step.done()  # it never starts: it waits until the run cancels it
        step.cancel()
        assert await until(lambda: _ended(handle))  # nobody holds or waits for it now: it ended on its own



@workflow.defn(name="test-lease-holder", sandboxed=False)
class LeaseHolder:
    """A run as a semaphore sees one: it is told of grants by a signal, and remembers them."""

    def __init__(self) -> None:
        self.granted: list[str] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=LEASE_SIGNAL)
    def told(self, event: LeaseEvent) -> None:
        if event.event == "granted":
            self.granted.append(event.token)

    @workflow.query
    def grants(self) -> list[str]:
        return self.granted


async def test_an_idle_lock_ends_and_a_request_racing_with_its_end_starts_it_again(client):
    """An idle semaphore stayed Running, so the Temporal UI counted it as a running workflow: now it
    ends with its last holder (Completed) and the next request starts it again. A request sent at
    the moment the last holder releases (it reaches the workflow as its last task ends it, or a new
    run) is granted all the same, and never while another holds the lock."""
    queue, name = f"lease-race-{uuid.uuid4().hex[:6]}", f"race-{uuid.uuid4().hex[:8]}"
    lock = semaphore_id(SCRIPTED_REPO, name)
    steps = ActivityEnvironment(client)
    steps.info = dataclasses.replace(steps.info, task_queue=queue)

    async def ask(token: str, holder: str) -> LeaseStatus:
        request = LeaseRequest(token=token, holder=holder)
        return await steps.run(enqueue_lease, EnqueueLeaseInput(repo=SCRIPTED_REPO, name=name, request=request))

    worker = {"client": client, "task_queue": queue, "workflows": [SemaphoreWorkflow, LeaseHolder], "workflow_runner": sandbox_runner()}
    async with Worker(**worker):
        holder = await client.start_workflow(LeaseHolder.run, id=f"holder-{uuid.uuid4().hex[:8]}", task_queue=queue)
        assert (await ask("t0", holder.id)).granted
        for n in range(1, 16):
            # The holder lets go while the next request arrives: in either order, and as the lock ends.
            _, status = await asyncio.gather(client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, f"t{n - 1}"), ask(f"t{n}", holder.id))
            if not status.granted:  # it came before the release: granted by a signal once the lock is free
                await until(lambda n=n: _granted(holder, f"t{n}"))
            state = await client.get_workflow_handle(lock).query(SemaphoreWorkflow.state)
            assert [h.token for h in state.holders] == [f"t{n}"], state  # held by it alone
    # The release and the next request in one workflow task (its worker was away while both came):
    # the request is taken before the lock decides it is idle, so it is held, not ended.
    release = asyncio.create_task(client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, "t15"))
    asked = asyncio.create_task(ask("t16", holder.id))
    await release
    async with Worker(**worker):
        status = await asyncio.wait_for(asked, 10)
        if not status.granted:
            await until(lambda: _granted(holder, "t16"))
        state = await client.get_workflow_handle(lock).query(SemaphoreWorkflow.state)
        assert [h.token for h in state.holders] == ["t16"] and (await client.get_workflow_handle(lock).describe()).status == WorkflowExecutionStatus.RUNNING
        await client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, "t16")
        assert await until(lambda: _ended(client.get_workflow_handle(lock)))  # idle: it ends, Completed
        ended = await until(lambda: _closed_runs(client, lock, at_least=1))  # visibility lags the workflows a moment
        assert all(wf.status == WorkflowExecutionStatus.COMPLETED for wf in ended), ended
        assert (await ask("again", holder.id)).granted  # the next request starts it again: a run of its own
        assert (await client.get_workflow_handle(lock).describe()).run_id not in {wf.run_id for wf in ended}
        await client.get_workflow_handle(lock).signal(SemaphoreWorkflow.release, "again")
        await holder.terminate()


async def _granted(holder, token: str) -> bool:  # type: ignore[no-untyped-def]
    return token in await holder.query(LeaseHolder.grants)


async def _closed_runs(client: Client, workflow_id: str, at_least: int) -> list[WorkflowExecution] | None:
    """The workflow's runs as visibility lists them, once none runs and there are `at_least` of them."""
    runs = [wf async for wf in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    return runs if len(runs) >= at_least and all(wf.status != WorkflowExecutionStatus.RUNNING for wf in runs) else None
