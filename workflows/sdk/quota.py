"""Provider quota and rate limits: what an instance says when its agent stopped at one, and what a
run's instances tell the quota workflow of their credentials (workflows/coordination/quota.py).

An instance that hits a limit does not fail: its activity returns a result carrying a QuotaPause,
the run waits on a Temporal timer until `until` (workflows/sdk/instances.py), then runs the
instance again, resuming its agent's session. Every instance using the same credentials asks the
quota workflow of their fingerprint (a hash, never the credential) before it starts an agent, so
all of them pause together. Pure models: the sandbox shares this module with every run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field, field_validator

QUOTA_WORKFLOW = "orchard-quota"
QUOTA_WAIT_SIGNAL = "orchard-quota-wait"
"""What a batch of instances or a child run signals its parent while it waits (QuotaWait)."""
FINGERPRINT_CHARS = 16

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=15)
"""When a limit gives no reset time: 30 s, 60 s, 120 s, ... at most 15 minutes."""
MAX_QUOTA_PAUSES = 50
"""An instance that still hits a limit after this many pauses fails (with the limit's message)."""


def quota_id(fingerprint: str) -> str:
    """The fixed workflow id of the quota workflow of one set of credentials."""
    return f"orchard-quota-{fingerprint}"


def backoff(pauses: int) -> timedelta:
    """The wait after the `pauses`-th pause in a row that came with no reset time."""
    first: timedelta = BACKOFF_FIRST * (2 ** min(max(pauses - 1, 0), 20))
    return min(first, BACKOFF_MAX)


class QuotaPause(BaseModel):
    """An instance stopped at a provider's limit: it waits until `until` (None: a backoff) and resumes."""

    until: datetime | None = None
    reason: str = ""
    """The provider's message, as the agent printed it."""
    fingerprint: str = ""
    """The credentials' fingerprint ("" when the plugin names none: the pause is the instance's own)."""
    pauses: int = 0
    """Pauses of this instance so far, this one included."""


class QuotaReport(BaseModel):
    """What an instance tells the quota workflow: its credentials hit a limit until `until`."""

    until: datetime
    reason: str = ""
    run_id: str = ""

    @field_validator("reason")
    @classmethod
    def _short(cls, reason: str) -> str:
        return reason[:500]


class QuotaState(BaseModel):
    """What the quota workflow knows: paused until `until` (past: not paused)."""

    fingerprint: str = Field(min_length=1)
    until: datetime | None = None
    reason: str = ""
    reports: int = 0
    runs: list[str] = Field(default_factory=list)
    """The runs that hit the limit in this pause (the latest few)."""

    def paused_at(self, now: datetime) -> bool:
        return self.until is not None and self.until > now


class QuotaWait(BaseModel):
    """A batch of a run's instances, or a child run, waits for a provider's limit (its parent shows it)."""

    run_id: str
    """The workflow id of the batch or child run that waits."""
    key: str = ""
    """The instance that waits (a batch's: one of the parent's instances); "" for a child run as a whole."""
    until: datetime | None = None
    """None: it no longer waits."""
