"""What the tests of locks, semaphores, rotations and events share: an activity run as a worker on
a given task queue runs it, and a run as a semaphore sees one."""

from __future__ import annotations

import dataclasses

from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from workflows.sdk.entities import LEASE_SIGNAL, LeaseEvent


def activity_on(client: Client, queue: str) -> ActivityEnvironment:
    """An activity environment as a worker polling `queue` runs the activity (what it starts goes there)."""
    env = ActivityEnvironment(client)
    env.info = dataclasses.replace(env.info, task_queue=queue)
    return env


@workflow.defn(name="test-slot-holder", sandboxed=False)
class Holder:
    """Runs as a semaphore sees them: told of each grant (and loss) by a signal, kept in the order it sent them."""

    def __init__(self) -> None:
        self.told: list[str] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.signal(name=LEASE_SIGNAL)
    def lease(self, event: LeaseEvent) -> None:
        self.told.append(f"{event.event} {event.token}")

    @workflow.query
    def events(self) -> list[str]:
        return self.told
