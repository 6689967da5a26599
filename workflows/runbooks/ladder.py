"""A monitor's response ladder (`response = ["nudge", "restart:2", "escalate"]`), decided per item:
pure functions over the item's record, driven by the cron's workflow (workflows/runbooks/cron.py).

otters' reading of a ladder: try each step until one works; while the item is still stuck, go on.
Here, for an item that matches on a tick:

- its current step runs (an action's command); when it works, the ladder waits for the next tick:
  if the item matches again, the step counts as not enough and the next one runs, unless the step
  may run more times (`restart:2`, or its action's `max_attempts`), then it runs again;
- a step that fails moves the ladder on at once, in the same tick;
- an action inside its `cooldown` for this item waits (nothing runs; the ladder stays);
- `escalate` tells a person (on_escalate) and `abandon` gives the item up (on_abandon); past the
  last step the item is abandoned; either way it is then left alone while it matches;
- an item that no longer matches (or is no longer listed) loses its record: its ladder starts
  again from the first step if it matches later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, Field

import workflows.runbooks.model as m

RecordDone = Literal["", "escalated", "abandoned"]


class ItemLadder(BaseModel):
    """Where one item is on its monitor's ladder: what the next tick of the cron carries."""

    step: int = 0
    """The index of the step the item is at."""
    runs: int = 0
    """How many times that step ran (and worked) for the item."""
    done: RecordDone = ""
    """Escalated or abandoned: left alone while it matches."""
    counts: dict[str, int] = Field(default_factory=dict)
    """Runs of each action for the item (its max_attempts)."""
    last_run: dict[str, datetime] = Field(default_factory=dict)
    """When each action last ran for the item (its cooldown)."""


StepKind = Literal["action", "escalate", "abandon", "wait"]


@dataclass(frozen=True)
class Decision:
    """What the ladder does for the item now: run an action, escalate, abandon, or wait (nothing)."""

    kind: StepKind
    step: str = ""
    """The step's name as written (`restart`), the event it fires (on_restart)."""
    action: m.Ref | None = None
    """The action to run: the step's own, or [action.escalate]'s before escalating."""
    index: int = 0
    note: str = ""


class Actions(Protocol):
    def __call__(self, reference: m.Ref) -> m.ActionDef: ...


def allowed(step: m.LadderStep, action: m.ActionDef | None) -> int:
    """How many times the step runs for one item before the ladder moves on."""
    if step.times is not None:
        return step.times
    return action.max_attempts if action is not None and action.max_attempts else 1


def decide(ladder: list[m.LadderStep], record: ItemLadder, actions: Actions, now: datetime) -> tuple[Decision, ItemLadder]:
    """What to do for an item that matches now, and its record moved to the step that does it."""
    if record.done:
        return Decision("wait", note=f"{record.done}: left alone while it matches"), record
    index, runs = record.step, record.runs
    while index < len(ladder):
        step = ladder[index]
        action = actions(step.action) if step.action is not None else None
        if step.kind != "action":
            return Decision(step.kind, step.name, step.action, index), record.model_copy(update={"step": index, "runs": 0})
        assert action is not None  # an action step names one
        spent = record.counts.get(action.name, 0)
        if runs >= allowed(step, action) or (action.max_attempts is not None and spent >= action.max_attempts):
            index, runs = index + 1, 0  # it ran as often as it may: on to the next step
            continue
        last = record.last_run.get(action.name)
        moved = record.model_copy(update={"step": index, "runs": runs})
        if action.cooldown and last is not None and now < last + timedelta(seconds=action.cooldown):
            left = (last + timedelta(seconds=action.cooldown) - now).total_seconds()
            return Decision("wait", step.name, step.action, index, note=f"{step.name} is cooling down ({left:.0f}s left)"), moved
        return Decision("action", step.name, step.action, index), moved
    return Decision("abandon", "abandon", None, index, note=f"every step of its ladder ran ({', '.join(s.name for s in ladder)})"), \
        record.model_copy(update={"step": index, "runs": 0})


def after(record: ItemLadder, decision: Decision, ok: bool, now: datetime, action_name: str | None) -> ItemLadder:
    """The record once `decision` was carried out (`ok`: its command exited 0)."""
    counts, last_run = dict(record.counts), dict(record.last_run)
    if action_name is not None:
        counts[action_name] = counts.get(action_name, 0) + 1
        last_run[action_name] = now
    if decision.kind == "escalate":
        return record.model_copy(update={"done": "escalated", "counts": counts, "last_run": last_run})
    if decision.kind == "abandon":
        return record.model_copy(update={"done": "abandoned", "counts": counts, "last_run": last_run})
    if decision.kind != "action":
        return record
    if ok:
        return record.model_copy(update={"runs": record.runs + 1, "counts": counts, "last_run": last_run})
    return record.model_copy(update={"step": decision.index + 1, "runs": 0, "counts": counts, "last_run": last_run})


class CronState(BaseModel):
    """What one run of a cron hands the next: each matching item's ladder, by monitor then item key."""

    ladders: dict[str, dict[str, ItemLadder]] = Field(default_factory=dict)
    runs: int = 0
    """Runs of the cron so far (this one included)."""
