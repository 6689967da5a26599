"""`emit_event` (`signal_waiting`): an event reaches the running runs on the repository that wait
for a pattern it matches, and no other run: not another repository's, not one that ended, not the
run that sent it."""

from __future__ import annotations

import uuid

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.coordination.events import emit_event
from tests.scripted import until
from workflows.sdk.events import EVENT_SIGNAL, EmitInput
from workflows.sdk.visibility import SA_REPO, SA_WAITS_FOR


@workflow.defn(name="test-event-waiter", sandboxed=False)
class Waiter:
    """A run that waits for events matching its patterns (as ctx.wait_for_event says so), and keeps what it was sent."""

    def __init__(self) -> None:
        self.got: list[str] = []

    @workflow.run
    async def run(self, patterns: list[str]) -> None:
        workflow.upsert_search_attributes([SA_WAITS_FOR.value_set(patterns)])
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: str) -> None:
        self.got.append(event)

    @workflow.query
    def events(self) -> list[str]:
        return self.got


async def start_waiter(client: Client, queue: str, repo: str, *patterns: str) -> WorkflowHandle:
    return await client.start_workflow(Waiter.run, list(patterns), id=f"waiter-{uuid.uuid4().hex[:8]}", task_queue=queue,
                                       search_attributes=TypedSearchAttributes([SearchAttributePair(SA_REPO, repo)]))


async def told(handle: WorkflowHandle, count: int) -> list[str]:
    """What the run was sent, once it has taken `count` events."""
    events: list[str] = await handle.query(Waiter.events)
    return events if len(events) >= count else []


async def waiting(client: Client, repo: str, count: int) -> None:
    """Until visibility finds `count` running runs on `repo` that wait for something (what emit_event reads)."""
    async def found() -> bool:
        query = f'OrchardRepo = "{repo}" AND ExecutionStatus = "Running" AND OrchardWaitsFor IS NOT NULL'
        return (await client.count_workflows(query)).count == count

    await until(found)


async def test_an_event_reaches_the_runs_on_its_repository_that_wait_for_it_and_only_those(client: Client):
    queue, repo, other = f"events-{uuid.uuid4().hex[:6]}", f"/scripted/{uuid.uuid4().hex[:8]}", f"/scripted/{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=[Waiter]):
        bugs = await start_waiter(client, queue, repo, "bug:*")
        merges = await start_waiter(client, queue, repo, "pipeline:*:merged", "bug:closed")
        sender = await start_waiter(client, queue, repo, "bug:created")
        elsewhere = await start_waiter(client, queue, other, "bug:*")
        ended = await start_waiter(client, queue, repo, "bug:*")
        await waiting(client, repo, 4)
        await waiting(client, other, 1)
        await ended.terminate("over")
        await waiting(client, repo, 3)
        steps = ActivityEnvironment(client)

        signalled = await steps.run(emit_event, EmitInput(repo=repo, events=["bug:created"], sender=sender.id))
        assert signalled == 1
        signalled = await steps.run(emit_event, EmitInput(repo=repo, events=["pipeline:auth:merged", "bug:closed", "phase:plan"]))
        assert signalled == 3  # bugs takes bug:closed; merges takes both of its own
        assert await until(lambda: told(bugs, 2)) == ["bug:created", "bug:closed"]
        assert await until(lambda: told(merges, 2)) == ["pipeline:auth:merged", "bug:closed"]
        assert await sender.query(Waiter.events) == []  # the run that sent it is not told of its own event
        assert await elsewhere.query(Waiter.events) == []
        assert await steps.run(emit_event, EmitInput(repo=repo, events=["deploy:done"])) == 0
        for handle in (bugs, merges, sender, elsewhere):
            await handle.terminate("the test is over")
