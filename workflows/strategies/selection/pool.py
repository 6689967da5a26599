"""What the selection methods share in one best-of-n run: the candidates, the run's agents'
answers (a score, a diff, a judging, the tests' outcomes are each asked for once, whichever
method asks first) and what each method's agents spent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workflows.sdk.context import Context, Handle
from workflows.sdk.models import InstanceResult, MethodPick, Selection, TestSource
from workflows.sdk.trail import ComparisonRecord, TestRecord
from workflows.strategies.selection.config import SelectionConfig


def number(c: InstanceResult) -> int:
    """The candidate's number (1, 2, ...): every candidate has one once evaluated."""
    return (c.selection or Selection()).candidate or 0


@dataclass
class Pick:
    """A method's pick: the candidate (None: none could be picked), why, and the instance-key
    prefixes of the agents it asked (what it spent)."""

    winner: InstanceResult | None
    reason: str
    asked: set[str] = field(default_factory=set)


@dataclass
class Pool:
    ctx: Context
    cfg: SelectionConfig
    prompt: str
    candidates: list[InstanceResult]
    scores: dict[int, tuple[float, str] | None] = field(default_factory=dict)
    diffs: dict[int, asyncio.Future[str]] = field(default_factory=dict)
    judged: dict[tuple[int, int], ComparisonRecord] = field(default_factory=dict)
    matrix: list[TestRecord] | None = None
    writers: list[Handle] = field(default_factory=list)
    """The test writers, started with the candidates."""
    sources: list[TestSource] = field(default_factory=list)
    """The folders of tests they committed (once the tests ran)."""

    @property
    def eligible(self) -> list[InstanceResult]:
        """Candidates that may win: they succeeded with changes and passed `verify`."""
        return [c for c in self.candidates if self.is_eligible(c)]

    @staticmethod
    def is_eligible(c: InstanceResult) -> bool:
        return bool(c.success and c.has_changes and c.branch_name and not (c.selection and c.selection.ineligible))

    def by_number(self, n: int) -> InstanceResult:
        return next(c for c in self.candidates if number(c) == n)

    def spent(self, spec: str, pick: Pick) -> MethodPick:
        """The pick as the run's result records it, with what the agents it asked spent."""
        keys = [k for k in self.ctx.progress if any(k == p or k.startswith(p + "/") for p in pick.asked)]
        spent = [self.ctx.progress[k] for k in keys]
        return MethodPick(
            method=spec, candidate=number(pick.winner) if pick.winner is not None else None, reason=pick.reason,
            input_tokens=sum(p.input_tokens for p in spent), output_tokens=sum(p.output_tokens for p in spent),
            cost_usd=round(sum(p.cost_usd for p in spent), 6), cost_estimated=any(p.cost_estimated for p in spent),
        )

    def trail(self, rows: Iterable[Any]) -> None:
        """Add rows to the run's trail (kept in its result)."""
        self.ctx.trail = [*self.ctx.trail, *rows]
