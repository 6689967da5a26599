"""What a run with a budget expects its running instances to spend, so that instances started at
once cannot all overshoot it together (policy `finish`: running instances are never stopped).

An instance's step is the first part of its key (`candidate/3` -> `candidate`). A running
instance is projected to spend the most a finished instance of its step spent (of any step, while
none of its own has finished), or its live spend if that is more; while no instance has finished
its projection is unknown, and the run starts nothing new until it is known: the first instance
runs alone and the run learns what one costs. A new instance starts while what ended spent, plus the running ones' projections, plus the
selection reserve, is under the budget, so the run ends within its budget plus about one
instance's spend.

Selection (best-of-n's scorers, judges, test writers) picks among candidates that already ran: its
instances are never kept from starting; instead the candidates leave room for it, a reserve of the
calls the selection method will still ask for, each costing what a finished selection call did
(or, before one has, what the most expensive candidate did). Pure: the sandbox shares this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

Admission = Literal["start", "wait", "stop"]
Figures = tuple[float, int]
"""(cost in USD, tokens)."""


class Live(Protocol):
    cost_usd: float
    tokens: int


def step_of(key: str) -> str:
    return key.split("/", 1)[0]


def _larger(a: Figures | None, b: Figures) -> Figures:
    return b if a is None else (max(a[0], b[0]), max(a[1], b[1]))


@dataclass
class Reserve:
    """What a strategy keeps back for its selection (ctx.reserve_for_selection)."""

    steps: frozenset[str]
    """The steps (first key parts) of selection instances: `score`, `judge`, `tests`, `synthesis`."""
    per_candidate: float
    """Selection calls the method asks for per candidate started (a judge per pair, a scorer each)."""
    fixed: int = 0
    """Selection calls it asks for whatever the number of candidates (test writers, a synthesis)."""
    candidate_step: str = "candidate"


@dataclass
class Projector:
    largest: dict[str, Figures] = field(default_factory=dict)
    """The most a finished instance of each step spent."""
    running: dict[str, str] = field(default_factory=dict)
    """Started instances still running -> their step."""
    reserve: Reserve | None = None
    candidates: int = 0
    """Candidates started (with a reserve)."""
    selection_calls: int = 0
    """Selection instances started."""
    selection_spent: Figures = (0.0, 0)
    """What finished selection instances spent: the run's result says it."""

    def is_selection(self, key: str) -> bool:
        return self.reserve is not None and step_of(key) in self.reserve.steps

    def started(self, key: str) -> None:
        step = step_of(key)
        self.running[key] = step
        if self.reserve is not None:
            self.candidates += step == self.reserve.candidate_step
            self.selection_calls += step in self.reserve.steps

    def forget(self, key: str) -> None:
        """The instance was let start here but did not (its shared budget refused it): it teaches nothing."""
        self.running.pop(key, None)

    def ended(self, key: str, spent: Figures) -> None:
        """The instance ended having spent `spent`."""
        step = self.running.pop(key, None)
        if step is None:
            return
        self.largest[step] = _larger(self.largest.get(step), spent)
        if self.reserve is not None and step in self.reserve.steps:
            self.selection_spent = (round(self.selection_spent[0] + spent[0], 6), self.selection_spent[1] + spent[1])

    def estimate(self, key: str) -> float:
        """What an instance of `key`'s step is expected to cost (the most one spent); 0 when none ended."""
        known = self.largest.get(step_of(key))
        return known[0] if known else 0.0

    def projected(self, live: Mapping[str, Live]) -> Figures | None:
        """What the running instances will have spent when they end; None while one's is unknown."""
        cost, tokens = 0.0, 0
        dearest = _largest(self.largest.values())
        for key, step in self.running.items():
            now = live.get(key)
            known = self.largest.get(step, dearest)
            if known is None:
                return None
            if now is not None:
                known = _larger(known, (now.cost_usd, now.tokens))
            cost, tokens = cost + known[0], tokens + known[1]
        return cost, tokens

    def held_back(self, adding: str) -> Figures | None:
        """The selection reserve if the instance `adding` starts: the selection calls still to
        come, each at what one costs; None while that is unknown (a selection call runs, none ended)."""
        reserve = self.reserve
        if reserve is None:
            return (0.0, 0)
        candidates = self.candidates + (step_of(adding) == reserve.candidate_step)
        calls = max(0.0, reserve.per_candidate * candidates + reserve.fixed - self.selection_calls)
        if not calls:
            return (0.0, 0)
        each = _largest(self.largest.get(s) for s in reserve.steps)
        if each is None:
            if any(step in reserve.steps for step in self.running.values()):
                return None  # one is running: wait and learn what it costs
            each = self.largest.get(reserve.candidate_step)  # a read-only agent over a candidate's change: taken as dear as the candidate
            if each is None:
                return None
        return each[0] * calls, int(each[1] * calls)


def _largest(figures: Iterable[Figures | None]) -> Figures | None:
    found: Figures | None = None
    for f in figures:
        if f is not None:
            found = _larger(found, f)
    return found
