"""The coordination workflows' states and requests (workflows/coordination/): pure models, which the
sandbox shares with every run (orchard_common/sandbox.py) instead of building them again for each
lock, semaphore or rotation workflow; their activities and the client read them too."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from workflows.sdk.entities import Turn


class LeaseHolder(BaseModel):
    token: str
    holder: str
    label: str = ""
    since: datetime
    beat: datetime


class LeaseWaiter(BaseModel):
    token: str
    holder: str
    label: str = ""
    asked: datetime


class StaleRelease(BaseModel):
    token: str
    holder: str
    label: str = ""
    at: datetime
    reason: str


class SemaphoreState(BaseModel):
    name: str
    repo: str
    max: int = Field(default=1, ge=1)
    heartbeat: float | None = None
    hold_timeout: float | None = None
    holders: list[LeaseHolder] = Field(default_factory=list)
    waiters: list[LeaseWaiter] = Field(default_factory=list)
    granted: int = 0
    stale: list[StaleRelease] = Field(default_factory=list)
    """The last slots taken back from holders that stopped beating or held too long."""
    grants_per_run: int = Field(default=500, ge=1)


class TurnRequest(BaseModel):
    run_id: str
    options: list[str] = Field(min_length=1)


class RotationState(BaseModel):
    rotation: str
    repo: str
    next_number: int = 0
    turns: list[Turn] = Field(default_factory=list)
    turns_per_run: int = Field(default=500, ge=1)

