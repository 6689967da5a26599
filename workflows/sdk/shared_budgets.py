"""Shared budgets: `orchard budget set NAME --usd 50 --per day|week|month`, an entity workflow per
budget (workflows/coordination/budgets.py) that every instance of a run with `--budget NAME` asks
for headroom before it starts (an update with a validator) and tells what it spent when it ends.
Past the budget, a new instance waits until the period turns (policy `wait`, the default) or fails
(`fail`). Periods are calendar ones in UTC: a day from midnight, a week from Monday, a month from
its first. Pure models and period arithmetic: the sandbox shares this module with every run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

SHARED_BUDGET_WORKFLOW = "orchard-budget"
SPENT_SIGNAL = "orchard_budget_spent"
LIVE_SIGNAL = "orchard_budget_live"
"""A running instance's spend so far (BudgetLive), told to the budget by its activity."""
BUSY_RETRY = timedelta(seconds=60)
"""At the latest, when an instance refused because running instances hold the rest of the budget asks again
(its run asks after 1 s, then 2, 4, ... up to this)."""
Period = Literal["day", "week", "month"]
SharedPolicy = Literal["wait", "fail"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def shared_budget_id(name: str) -> str:
    """The fixed workflow id of a shared budget: one per name in a namespace."""
    return f"orchard-budget-{name}"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a budget name: letters, digits, '.', '_' and '-', at most 64")
    return name


def period_start(now: datetime, per: Period) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if per == "day":
        return day
    if per == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def period_end(now: datetime, per: Period) -> datetime:
    start = period_start(now, per)
    if per == "day":
        return start + timedelta(days=1)
    if per == "week":
        return start + timedelta(weeks=1)
    return (start + timedelta(days=32)).replace(day=1)


class SharedBudgetSpec(BaseModel):
    """What `orchard budget set` says."""

    name: str
    usd: float = Field(gt=0)
    per: Period = "day"
    policy: SharedPolicy = "wait"
    """Past the budget a new instance waits until the period turns, or fails."""

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name)


class Hold(BaseModel):
    """A running instance's reservation: what it is expected to spend (0: not known yet) and its live spend."""

    run_id: str
    estimate: float = Field(default=0.0, ge=0)
    live: float = Field(default=0.0, ge=0)

    @property
    def amount(self) -> float:
        return max(self.estimate, self.live)


class SharedBudgetState(BaseModel):
    """The budget's workflow state: its settings, the current period and what was spent in it."""

    spec: SharedBudgetSpec
    period_start: datetime | None = None
    spent: float = 0.0
    counted: list[str] = Field(default_factory=list)
    """Instances (run/key) whose spend this period counted: a report repeated counts once."""
    asked: int = 0
    refused: int = 0
    holds: dict[str, Hold] = Field(default_factory=dict)
    """Instances (run/key) granted headroom and still running: what each holds of the budget."""
    largest: float = 0.0
    """The most one instance spent (any period): the estimate of an instance whose run knows none."""

    @property
    def held(self) -> float:
        return round(sum(h.amount for h in self.holds.values()), 6)

    @property
    def running(self) -> float:
        return round(sum(h.live for h in self.holds.values()), 6)

    def holders(self) -> str:
        """`2 instances of 1 run` holding reservations."""
        runs = len({h.run_id for h in self.holds.values()})
        return f"{len(self.holds)} instance{'s' if len(self.holds) != 1 else ''} of {runs} run{'s' if runs != 1 else ''}"


class HeadroomRequest(BaseModel):
    run_id: str = Field(min_length=1)
    key: str = Field(min_length=1)
    estimate: float = Field(default=0.0, ge=0)
    """What the run expects the instance to spend (the most one of its step spent; 0: not known)."""


class Headroom(BaseModel):
    """The budget's answer: go ahead, or not before `until` (the period's end)."""

    granted: bool
    name: str
    spent: float
    usd: float
    per: Period
    policy: SharedPolicy
    until: datetime
    found: bool = True
    """False: no budget of this name (nobody ran `orchard budget set NAME`)."""
    held: float = 0.0
    """What running instances hold of it (their reservations, or their live spend if more)."""
    busy: bool = False
    """Refused only for what running instances hold (or one whose cost is still being learnt): ask again at `until`."""

    @property
    def text(self) -> str:
        running = f" and ${self.held:.2f} held by running instances" if self.held else ""
        return f"budget {self.name}: spent ${self.spent:.2f}{running} of ${self.usd:g} this {self.per}"


class BudgetSpent(BaseModel):
    """What an instance tells the budget when it ends."""

    run_id: str
    key: str
    cost_usd: float = Field(ge=0)


class BudgetLive(BaseModel):
    """What a running instance has spent so far, told to the budget while it runs."""

    run_id: str
    key: str
    cost_usd: float = Field(ge=0)


class DeleteRequest(BaseModel):
    force: bool = False
    """Delete it although running instances hold reservations."""


class AskHeadroomInput(BaseModel):
    name: str
    request: HeadroomRequest
