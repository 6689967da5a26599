"""The rows of a run's trail (`ctx.trail`, `RunProgress.trail`): one typed model per kind of step.

A loop's iterations, a pipeline's phases and a queue worker's items are what the client shows as
a table while a run goes on, and what their results keep (InstanceResult.loop, .pipeline, .queue).
Each row says its kind (`kind`, the union's discriminator), so the client dispatches on the row's
type, never on which keys a dict happens to have.

The rows are pure data and live in the SDK, the bottom layer, so that the SDK's models can carry
them and the client can read them without importing a feature; the features fill them in (the
loop its IterationRecord, a pipeline its PhaseRecord, a queue worker its ItemRecord). A strategy
of a user's own may put any other row (a dict, or a model of its own) in ctx.trail: it is shown as
a StepRecord, a row of whatever fields it has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

Level = Literal["L0", "L1", "L2", "L3"]
"""Verification levels, lowest first: e.g. L0 lint and types, L1 unit tests, L2 integration, L3 end to end."""
LEVELS: tuple[Level, ...] = ("L0", "L1", "L2", "L3")

LoopAction = Literal["continue", "complete", "timeout", "fail", "budget", "stopped"]
"""What a loop's decision does: iterate again, or end the loop (complete: done, also an accepted
partial result; timeout: out of iterations; fail; budget: out of money or time; stopped: by a person)."""


class IterationRecord(BaseModel):
    """One iteration in the loop's trail (`orchard show`, the TUI; the result's `loop.trail`)."""

    kind: Literal["iteration"] = "iteration"
    iteration: int
    commit: str
    levels_passed: list[Level] = Field(default_factory=list)
    highest_level: Level | None = None
    verified: bool = False
    """Verification ran and every configured level passed."""
    ci_passed: bool | None = None
    changed: bool = False
    action: LoopAction
    reason: str
    duration_seconds: float = 0.0
    tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    """The agent's failure in this iteration, if it failed."""
    host: str = ""


class PhaseRecord(BaseModel):
    """One phase of a pipeline as it ran (`orchard show`, the TUI; the result's `pipeline.phases`)."""

    kind: Literal["phase"] = "phase"
    step: int
    phase: str
    visit: int
    action: str
    ok: bool
    note: str = ""
    exit_code: int | None = None
    started: datetime | None = None
    duration_seconds: float = 0.0
    waited_seconds: float = 0.0
    """Of its duration, the time it waited in line for its lock and semaphore."""
    commit: str = ""
    attempts: list[str] = Field(default_factory=list)
    """Each failed attempt of a strategy chain, and why."""


ItemStatus = Literal["running", "done", "failed", "dead", "dropped"]


class ItemRecord(BaseModel):
    """One item of a queue worker (`orchard runbook worker status`, the TUI; the result's `queue.items`)."""

    kind: Literal["item"] = "item"
    id: str
    status: ItemStatus
    attempts: int = 0
    run: str = ""
    """The key of the last child run (or instance) that handled it."""
    error: str = ""
    at: datetime | None = None


class TestRecord(BaseModel):
    """One generated test of best-of-n's `select=tests`, a row of the candidates × tests matrix:
    which candidates passed it, whether it passed on the base commit, and whether it counted."""

    __test__ = False  # pytest: not a test class

    kind: Literal["test"] = "test"
    test: str
    """The test's id as its runner gave it (pytest's node id)."""
    writer: int
    """The test writer that wrote it (1, 2, ...)."""
    base: bool | None = None
    """Passed on the base commit (then it checks nothing); None: not run there."""
    passed: list[int] = Field(default_factory=list)
    """The candidates (their numbers) that passed it; every other candidate tested failed it."""
    failed: list[int] = Field(default_factory=list)
    counted: bool = True
    note: str = ""
    """Why it counts for nothing: it fails on every candidate, or passes on the base."""


Verdict = Literal["A", "B", "draw"]


class ComparisonRecord(BaseModel):
    """One pairing of best-of-n's `select=tournament`: a judge asked twice, the candidates in both
    orders (position bias cancels); a split verdict is a draw."""

    kind: Literal["comparison"] = "comparison"
    method: str = "tournament"
    round: int = 1
    """Round robin: 1; single elimination: the round (1 the first)."""
    a: int
    b: int
    """The candidates compared (their numbers); `a` was shown first in the first asking."""
    first: int | None = None
    """The candidate the judge preferred with `a` shown first (None: a draw, or no usable answer)."""
    second: int | None = None
    """... and with `b` shown first."""
    winner: int | None = None
    """The pairing's winner: both askings agree on it (None: a draw)."""
    rationale: str = ""
    tokens: int = 0
    cost_usd: float = 0.0


class StepRecord(BaseModel):
    """A step of a strategy of a user's own: whatever fields it gave (a dict, or a model of its own)."""

    model_config = ConfigDict(extra="allow")

    kind: str = "step"

    @property
    def fields(self) -> dict[str, Any]:
        """Its fields but the kind, in the order given."""
        return dict(self.model_extra or {})


_KINDS: dict[str, type[IterationRecord] | type[PhaseRecord] | type[ItemRecord] | type[TestRecord] | type[ComparisonRecord]] = {
    "iteration": IterationRecord, "phase": PhaseRecord, "item": ItemRecord, "test": TestRecord, "comparison": ComparisonRecord,
}


def row_kind(row: Any) -> str:
    """The union's tag of a row: its `kind`; a row from before rows said their kind (a worker of an
    older Orchard) by the fields only that kind has; anything else is a step."""
    kind = row.get("kind") if isinstance(row, dict) else getattr(row, "kind", None)
    if kind in _KINDS:
        return str(kind)
    if isinstance(row, dict) and kind is None:
        if "id" in row and "attempts" in row and "status" in row:
            return "item"
        if "phase" in row and "step" in row:
            return "phase"
        if "iteration" in row and "action" in row:
            return "iteration"
    return "step"


TrailRow = Annotated[
    Annotated[IterationRecord, Tag("iteration")]
    | Annotated[PhaseRecord, Tag("phase")]
    | Annotated[ItemRecord, Tag("item")]
    | Annotated[TestRecord, Tag("test")]
    | Annotated[ComparisonRecord, Tag("comparison")]
    | Annotated[StepRecord, Tag("step")],
    Discriminator(row_kind),
]
"""A row of a trail: discriminated by `kind`."""

TRAIL_ROW_TYPES = (IterationRecord, PhaseRecord, ItemRecord, TestRecord, ComparisonRecord, StepRecord)


def as_trail_row(step: Any) -> IterationRecord | PhaseRecord | ItemRecord | TestRecord | ComparisonRecord | StepRecord:
    """A step a strategy put in ctx.trail, as a row: a row as it is; a model or a dict of a user's
    own as a StepRecord of its fields (never an error: the progress query must answer)."""
    if isinstance(step, TRAIL_ROW_TYPES):
        return step
    data = step.model_dump(mode="json") if isinstance(step, BaseModel) else step if isinstance(step, dict) else {"value": step}
    fields = {str(k): v for k, v in data.items()}
    kind = row_kind(fields)
    if kind != "step":
        try:
            return _KINDS[kind].model_validate(fields)
        except ValueError:
            pass
    fields.pop("kind", None)
    return StepRecord(**fields)
