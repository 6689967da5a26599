"""The semaphore workflow (a lock is a semaphore of one): slots granted first come, first served,
in the order the runs asked; and when a holder that went silent loses its slot (the deadline logic,
without a server)."""

from __future__ import annotations

import functools
import re
import uuid

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker

from activities.coordination.semaphores import enqueue_lease
from orchard_common.sandbox import sandbox_runner
from tests.activities.coordination.helpers import Holder, activity_on
from tests.conftest import ROOT
from tests.scripted import until
from workflows.coordination.semaphores import SEMAPHORE_WORKFLOW, SemaphoreWorkflow
from workflows.sdk.entities import EnqueueLeaseInput, LeaseRequest, LeaseStatus, semaphore_id

REPO = "/scripted/semaphores"


@pytest.mark.parametrize("slots", [1, 3], ids=["lock", "semaphore of 3"])
async def test_waiters_are_granted_slots_first_come_first_served(client: Client, slots: int):
    """Waiters queued in a known order get the slots in that order as they free up, one by one or
    several at once; a lock is a semaphore of one, and the same."""
    queue, name = f"fifo-{uuid.uuid4().hex[:6]}", f"fifo-{uuid.uuid4().hex[:8]}"
    steps = activity_on(client, queue)
    lock = client.get_workflow_handle(semaphore_id(REPO, name))
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow, Holder], workflow_runner=sandbox_runner()):
        holder = await client.start_workflow(Holder.run, id=f"holder-{uuid.uuid4().hex[:8]}", task_queue=queue)

        async def ask(token: str) -> LeaseStatus:
            return await steps.run(enqueue_lease, EnqueueLeaseInput(repo=REPO, name=name, request=LeaseRequest(token=token, holder=holder.id, max=slots)))

        first = [f"h{n}" for n in range(slots)]
        waiters = [f"w{n}" for n in range(1, 7)]
        assert [await ask(t) for t in first] == [LeaseStatus(granted=True)] * slots
        assert [await ask(t) for t in waiters] == [LeaseStatus(granted=False, position=n) for n in range(1, 7)]  # asked one after the other

        async def told(count: int) -> list[str]:
            events: list[str] = await holder.query(Holder.events)
            return events if len(events) >= count else []

        await lock.signal(SemaphoreWorkflow.release, first[0])  # one slot frees up: the first in line gets it
        assert await until(lambda: told(1)) == ["granted w1"]
        state = await lock.query(SemaphoreWorkflow.state)
        assert [w.token for w in state.waiters] == waiters[1:] and state.holders[-1].token == "w1"
        while len(await holder.query(Holder.events)) < len(waiters):  # every holder lets go at once: the next in line get the slots, in turn
            count = len(await holder.query(Holder.events))
            for token in [h.token for h in (await lock.query(SemaphoreWorkflow.state)).holders]:
                await lock.signal(SemaphoreWorkflow.release, token)
            assert await until(functools.partial(told, min(count + slots, len(waiters)))) == [f"granted {w}" for w in waiters[:count + slots]]
        await holder.terminate("the test is over")


async def test_a_holder_whose_beats_stop_loses_its_slot_to_the_next_in_line_and_is_told(client: Client):
    """The semaphore's own timer takes the slot back (test_staleness.py has when, to the second):
    with a heartbeat of 0.05 s, within 1.1 s of the last beat."""
    queue, name = f"stale-{uuid.uuid4().hex[:6]}", f"stale-{uuid.uuid4().hex[:8]}"
    steps = activity_on(client, queue)
    lock = client.get_workflow_handle(semaphore_id(REPO, name))
    async with Worker(client, task_queue=queue, workflows=[SemaphoreWorkflow, Holder], workflow_runner=sandbox_runner()):
        holder = await client.start_workflow(Holder.run, id=f"holder-{uuid.uuid4().hex[:8]}", task_queue=queue)
        for token in ("silent", "next"):  # a holder that never beats, as one whose worker died
            await steps.run(enqueue_lease, EnqueueLeaseInput(repo=REPO, name=name, request=LeaseRequest(token=token, holder=holder.id, heartbeat=0.05)))

        async def told() -> list[str]:
            events: list[str] = await holder.query(Holder.events)
            return events if len(events) >= 2 else []

        assert (await until(told))[:2] == ["lost silent", "granted next"]  # (and "next", silent too, loses it 1.1 s on)
        state = await lock.query(SemaphoreWorkflow.state)
        assert (state.stale[0].token, state.stale[0].holder) == ("silent", holder.id)
        silence = re.fullmatch(r"no heartbeat for (\d+\.\d)s \(every 0\.05s expected\)", state.stale[0].reason)
        assert silence and float(silence[1]) >= 1.1, state.stale[0].reason
        await lock.signal(SemaphoreWorkflow.release, "next")
        await holder.terminate("the test is over")


async def test_a_recorded_lock_history_replays_against_the_current_code():
    """A lock's own history (tests/record_histories.py: granted, waited for, beats, a silent holder
    and one past its hold timeout taken back, ended idle), recorded before the deadline logic moved
    into pure functions: an edit of the semaphore must keep replaying it."""
    history = ROOT / "tests" / "histories" / "semaphore" / f"{SEMAPHORE_WORKFLOW}.json"
    replayer = Replayer(workflows=[SemaphoreWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    result = await replayer.replay_workflow(WorkflowHistory.from_json(SEMAPHORE_WORKFLOW, history.read_text()), raise_on_replay_failure=False)
    assert result.replay_failure is None
