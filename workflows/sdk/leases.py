"""Locks and semaphores as a strategy holds them: `async with ctx.hold("main_branch"): ...`.

The lease is asked of the repository's semaphore workflow (workflows/coordination/semaphores.py)
by an activity; a run that must wait in line waits on a signal, at no cost. While it holds the
lease it beats every `heartbeat` seconds; leaving the block, failing or being canceled releases it.
A lease taken back from the run (its beats stopped while its worker was down, or it held past
`hold_timeout`) is marked `lost`, with the semaphore's reason.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows.sdk.entities import EnqueueLeaseInput, HeldLease, LeaseEvent, LeaseRequest, LeaseStatus, semaphore_id
from workflows.sdk.instances import INFRA_RETRY


class Leases:
    """A run's leases and the events its semaphores sent it (kept from the run's start)."""

    def __init__(self) -> None:
        self.events: dict[str, list[LeaseEvent]] = {}
        self._asked = 0

    def take(self, event: LeaseEvent) -> None:
        self.events.setdefault(event.token, []).append(event)

    def happened(self, token: str, what: str) -> LeaseEvent | None:
        return next((e for e in self.events.get(token, []) if e.event == what), None)

    def lease(self, repo: str, name: str, max: int, heartbeat: float | None, hold_timeout: float | None, label: str) -> Lease:
        self._asked += 1
        token = f"{workflow.info().run_id}/{name}/{self._asked}"
        return Lease(self, repo, name, LeaseRequest(
            token=token, holder=workflow.info().workflow_id, label=label, max=max, heartbeat=heartbeat, hold_timeout=hold_timeout))


class Lease:
    def __init__(self, leases: Leases, repo: str, name: str, request: LeaseRequest):
        self._leases, self.repo, self.name, self.request = leases, repo, name, request
        self.position = 0
        """Where the run stood in line when it asked (0: granted at once)."""
        self._beating: asyncio.Task[None] | None = None

    @property
    def token(self) -> str:
        return self.request.token

    @property
    def held(self) -> HeldLease:
        return HeldLease(workflow_id=semaphore_id(self.repo, self.name), token=self.token)

    @property
    def lost(self) -> str | None:
        """Why the semaphore took the lease back, or None while it is held."""
        event = self._leases.happened(self.token, "lost")
        return event.reason if event else None

    async def __aenter__(self) -> Lease:
        status: LeaseStatus = await workflow.execute_activity(
            "enqueue_lease", EnqueueLeaseInput(repo=self.repo, name=self.name, request=self.request), result_type=LeaseStatus,
            activity_id=f"lease/{self.token.split('/', 1)[1]}", start_to_close_timeout=timedelta(seconds=60), retry_policy=INFRA_RETRY,
            summary=f"ask for {self.name}",
        )
        if not status.granted:
            self.position = status.position
            try:
                await workflow.wait_condition(lambda: self._leases.happened(self.token, "granted") is not None)
            except asyncio.CancelledError:
                await self._release()
                raise
        if self.request.heartbeat:
            self._beating = asyncio.create_task(self._beat(self.request.heartbeat))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._beating is not None:
            self._beating.cancel()
        await self._release()

    async def _beat(self, every: float) -> None:
        while self.lost is None:
            await workflow.sleep(every)
            await self._signal("beat")

    async def _release(self) -> None:
        await self._signal("release")

    async def _signal(self, name: str) -> None:
        """A semaphore nobody holds or waits for has ended (and one that took this lease back may
        have): there is nothing to tell it then."""
        try:
            await workflow.get_external_workflow_handle(semaphore_id(self.repo, self.name)).signal(name, self.token)
        except ApplicationError as e:
            if e.type != "ExternalWorkflowExecutionNotFound":
                raise
