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

from workflows.sdk.projection import Admission, Figures, Projector, step_of


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
    carried_cost: float = Field(default=0.0, ge=0)
    """What the run's parent had spent when this child run started (a child's budget only)."""
    carried_tokens: int = Field(default=0, ge=0)
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

    def for_child(self, cost: float, tokens: int) -> Budget:
        """A child strategy's budget: this one, with what its parent had spent when it started
        (`cost`, `tokens`) counted as spent, so the child stops where the parent would."""
        return self.model_copy(update={"carried_cost": round(cost, 6), "carried_tokens": tokens})


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
        self.projector = Projector()
        """What running instances are expected to spend (policy finish; workflows/sdk/projection.py)."""
        self.stopped_steps: dict[str, int] = {}
        """Instances the budget kept from starting, by step (`candidate`: 3)."""

    def take(self, spend: InstanceSpend) -> None:
        self.live[spend.key] = spend

    def settled(self, key: str, spent: Figures = (0.0, 0)) -> None:
        """The instance ended having spent `spent`: its result's figures count from now on, not its live ones."""
        self.live.pop(key, None)
        self.projector.ended(key, spent)

    def spent(self, totals: RunTotals) -> Figures:
        """What ended instances spent (and, in a child run, what its parent had when it started)."""
        carried = self.budget or Budget()
        return carried.carried_cost + totals.cost_usd, carried.carried_tokens + totals.input_tokens + totals.output_tokens

    def over(self, figures: Figures) -> bool:
        return self.budget is not None and ((self.budget.max_cost is not None and figures[0] >= self.budget.max_cost)
                                            or (self.budget.max_tokens is not None and figures[1] >= self.budget.max_tokens))

    def admit(self, key: str, totals: RunTotals) -> Admission:
        """Whether the instance `key` may start now, wait (a running instance's spend is being
        learnt), or not start (the budget would be passed). Deciding `start` counts it as started,
        so instances deciding in the same step of the workflow see each other."""
        if self.budget is not None and not self.projector.is_selection(key):  # selection picks among what ran: never kept from starting
            if self.reached(totals):
                return "stop"
            if self.budget.policy == "finish":
                running, reserve = self.projector.projected(self.live), self.projector.held_back(key)
                if running is None or reserve is None:
                    if self.projector.running:
                        return "wait"
                else:
                    spent = self.spent(totals)
                    if self.over((spent[0] + running[0] + reserve[0], spent[1] + running[1] + reserve[1])):
                        return "stop"
        self.projector.started(key)
        return "start"

    def learning(self) -> str:
        """What the run says while new instances wait for a running one's spend to be known."""
        steps = sorted({step for key, step in self.projector.running.items() if step not in self.projector.largest})
        step = steps[0] if steps else "instance"
        return f"budget: starting one {step} first to learn its cost"

    def expected(self, totals: RunTotals) -> str:
        """What the running instances and the selection reserve are expected to spend still (for a refusal's line)."""
        running, reserve = self.projector.projected(self.live) or (0.0, 0), self.projector.held_back("") or (0.0, 0)
        live = sum(s.cost_usd for s in self.live.values())
        said = []
        if running[0] - live > 0:
            said.append(f"${running[0] - live:.2f} more expected from {len(self.projector.running)} running")
        if reserve[0] > 0:
            said.append(f"${reserve[0]:.2f} kept for selection")
        return ", ".join(said)

    def selection_text(self) -> str:
        """`selection cost $0.41`, once a strategy kept a reserve for its selection."""
        if self.projector.reserve is None:
            return ""
        stopped = self.stopped_steps.get(self.projector.reserve.candidate_step, 0)
        head = f"the budget stopped {stopped} new candidate{'s' if stopped != 1 else ''}; " if stopped else ""
        return f"{head}selection cost ${self.projector.selection_spent[0]:.2f}"

    def figures(self, totals: RunTotals) -> tuple[float, int, bool]:
        """(cost, tokens, estimated): what ended instances spent plus the live spend of running ones
        (and, in a child run, what its parent had spent when it started)."""
        carried = self.budget or Budget()
        cost = carried.carried_cost + totals.cost_usd + sum(s.cost_usd for s in self.live.values())
        tokens = carried.carried_tokens + totals.input_tokens + totals.output_tokens + sum(s.tokens for s in self.live.values())
        return round(cost, 6), tokens, totals.cost_estimated or any(s.cost_estimated and s.cost_usd for s in self.live.values())

    def reached(self, totals: RunTotals) -> bool:
        if self.budget is None:
            return False
        cost, tokens, _ = self.figures(totals)
        return (self.budget.max_cost is not None and cost >= self.budget.max_cost) or (
            self.budget.max_tokens is not None and tokens >= self.budget.max_tokens)

    def stop(self, totals: RunTotals, key: str = "") -> str:
        """Count an instance the budget stopped; what the run says of it."""
        assert self.budget is not None
        self.counted(key)
        self.note = spent_text(*self.figures(totals), self.budget)
        return self.note

    def counted(self, key: str = "") -> None:
        """Count an instance the budget stopped elsewhere (in one of the run's batches), summing nothing."""
        self.stopped += 1
        if key:
            self.stopped_steps[step_of(key)] = self.stopped_steps.get(step_of(key), 0) + 1

    def final(self, totals: RunTotals) -> str:
        """What the run says at its end, once the budget stopped something."""
        if self.budget is None or not self.stopped:
            return ""
        cost = self.budget.carried_cost + totals.cost_usd
        tokens = self.budget.carried_tokens + totals.input_tokens + totals.output_tokens
        selection = self.selection_text()
        return spent_text(cost, tokens, totals.cost_estimated, self.budget) + (f"; {selection}" if selection else "")
