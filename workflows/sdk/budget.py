"""A run's budget: `--max-cost USD`, `--max-tokens N`, `--budget-policy finish|cancel` (or
orchard.yaml's `budget:`), for every strategy, loop and pipeline.

The run starts no new instance once what it spent plus the live spend of its running instances
reaches the budget (ctx.run is the one door every instance goes through); with `cancel` the
running ones are stopped too. Running instances report their live spend to their run by a signal
(SPEND_SIGNAL) while the run has a budget. A child strategy gets what is left of its parent's.
The run then ends with outcome `budget` and says so: "spent $4.91 of $5". Pure: the sandbox shares
this module with every run.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class RunTotals(Protocol):
    """What a run spent (models.RunTotals, which this module cannot import: RunInput holds a Budget)."""

    cost_usd: float
    input_tokens: int
    output_tokens: int
    cost_estimated: bool

SPEND_SIGNAL = "orchard_spend"
"""The signal a running instance tells its run its live spend by."""
SPEND_EVERY = 2.0
"""Seconds at least between an instance's live spend reports (each only when its figures changed;
the first as soon as they do)."""

BudgetPolicy = Literal["finish", "cancel"]


class Budget(BaseModel):
    """What a run may spend. The one definition of the settings: the CLI's flags and orchard.yaml's
    `budget:` (max_cost, max_tokens, policy) fill it."""

    model_config = ConfigDict(extra="forbid")

    max_cost: float | None = Field(default=None, gt=0)
    """USD: the agents' own figures, or tokens × a price table where they give none (estimated)."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Input and output tokens of all the run's agents."""
    policy: BudgetPolicy = "finish"
    """finish: running instances end, nothing new starts; cancel: running instances are stopped too."""
    shared: str | None = None
    """A shared budget's name (`--budget NAME`, workflows/sdk/shared_budgets.py): every instance asks it for headroom first."""

    @property
    def limited(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def tighter(self, max_cost: float | None) -> Budget:
        """This budget with a cost limit of a strategy's own (a loop's max_cost_usd), whichever is lower."""
        if max_cost is None or (self.max_cost is not None and self.max_cost <= max_cost):
            return self
        return self.model_copy(update={"max_cost": max_cost})

    def left(self, spent: RunTotals) -> Budget | None:
        """What is left after `spent` (a child's budget); None once nothing is."""
        cost = None if self.max_cost is None else round(self.max_cost - spent.cost_usd, 6)
        tokens = None if self.max_tokens is None else self.max_tokens - spent.input_tokens - spent.output_tokens
        if (cost is not None and cost <= 0) or (tokens is not None and tokens <= 0):
            return None
        return self.model_copy(update={"max_cost": cost, "max_tokens": tokens})


class InstanceSpend(BaseModel):
    """A running instance's spend so far (its activity's live figures)."""

    key: str
    cost_usd: float = 0.0
    tokens: int = 0
    cost_estimated: bool = True


def spent_text(cost: float, tokens: int, estimated: bool, budget: Budget) -> str:
    """`spent $4.91 of $5` (estimated when a figure is); `used 120,000 of 100,000 tokens`."""
    said = []
    if budget.max_cost is not None:
        said.append(f"spent ${cost:.2f} of ${budget.max_cost:g}" + (" (estimated)" if estimated else ""))
    if budget.max_tokens is not None:
        said.append(f"used {tokens:,} of {budget.max_tokens:,} tokens")
    return ", ".join(said)


class BudgetGuard:
    """The run's side: the live spend of its running instances, and whether the budget is reached."""

    def __init__(self, budget: Budget | None):
        self.budget = budget if budget is not None and budget.limited else None
        self.live: dict[str, InstanceSpend] = {}
        self.stopped = 0
        """Instances the budget kept from starting or stopped."""
        self.note = ""
        """What the run says of its budget once it stopped something: `spent $4.91 of $5`."""

    def take(self, spend: InstanceSpend) -> None:
        self.live[spend.key] = spend

    def settled(self, key: str) -> None:
        """The instance ended: its result's figures count from now on, not its live ones."""
        self.live.pop(key, None)

    def figures(self, totals: RunTotals) -> tuple[float, int, bool]:
        """(cost, tokens, estimated): what ended instances spent plus the live spend of running ones."""
        cost = totals.cost_usd + sum(s.cost_usd for s in self.live.values())
        tokens = totals.input_tokens + totals.output_tokens + sum(s.tokens for s in self.live.values())
        return round(cost, 6), tokens, totals.cost_estimated or any(s.cost_estimated and s.cost_usd for s in self.live.values())

    def reached(self, totals: RunTotals) -> bool:
        if self.budget is None:
            return False
        cost, tokens, _ = self.figures(totals)
        return (self.budget.max_cost is not None and cost >= self.budget.max_cost) or (
            self.budget.max_tokens is not None and tokens >= self.budget.max_tokens)

    def stop(self, totals: RunTotals) -> str:
        """Count an instance the budget stopped; what the run says of it."""
        assert self.budget is not None
        self.stopped += 1
        self.note = spent_text(*self.figures(totals), self.budget)
        return self.note

    def final(self, totals: RunTotals) -> str:
        """What the run says at its end, once the budget stopped something."""
        if self.budget is None or not self.stopped:
            return ""
        cost, tokens, estimated = totals.cost_usd, totals.input_tokens + totals.output_tokens, totals.cost_estimated
        return spent_text(cost, tokens, estimated, self.budget)
