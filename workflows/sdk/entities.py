"""What a run says to the entity workflows runs share (workflows/coordination/): a rotation hands
it a turn (`ctx.take_turn`), a lock or semaphore a lease (`ctx.hold`). The messages, the
semaphore's id and the signal a holder is told by: the SDK's side of the conversation, so the SDK
needs no coordination module, and the entity workflows and their activities use the same models.
Pure models: the sandbox shares this module with every run (orchard_common/sandbox.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from workflows.sdk.models import key_hash8

LEASE_SIGNAL = "orchard_lease"
"""The signal a holder's workflow gets: its slot granted, or lost."""


def semaphore_id(repo: str, name: str) -> str:
    """The fixed workflow id of a lock or semaphore: one per repository and name."""
    return f"orchard-semaphore-{key_hash8(repo)}-{name}"


class TakeTurnInput(BaseModel):
    repo: str
    run_id: str
    rotation: str
    options: list[str]


class Turn(BaseModel):
    number: int
    """0 for the rotation's first turn."""
    choice: str
    run_id: str
    at: datetime


class HeldLease(BaseModel):
    """A slot a step runs under: the step starts only while its holder's beats are fresh."""
    workflow_id: str
    token: str


class LeaseRequest(BaseModel):
    token: str = Field(min_length=1)
    """One per hold; asking again with it (a retried activity) is the same request."""
    holder: str
    """The workflow id of the run that asks: grants and losses are signalled to it."""
    label: str = ""
    max: int = Field(default=1, ge=1)
    heartbeat: float | None = Field(default=None, gt=0)
    hold_timeout: float | None = Field(default=None, gt=0)


class LeaseStatus(BaseModel):
    granted: bool
    position: int = 0
    """In line: 1 is next."""


class LeaseEvent(BaseModel):
    """What a holder's workflow is told."""
    name: str
    token: str
    event: str
    """granted | lost"""
    reason: str = ""


class EnqueueLeaseInput(BaseModel):
    repo: str
    name: str
    request: LeaseRequest
