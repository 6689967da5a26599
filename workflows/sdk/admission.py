"""An instance held to a run's budget: whether it starts, and (`--budget-policy cancel`) when it
is stopped. The one way both a run (context.py) and a batch of its instances (batches.py) do it,
each with its own BudgetGuard and its own figures of what was spent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager
from typing import Any

from temporalio import workflow

from workflows.sdk.budget import BudgetGuard, InstanceSpend
from workflows.sdk.models import InstanceInput, InstanceResult, RunTotals
from workflows.sdk.projection import Admission


@contextlib.contextmanager
def _quietly(_: str) -> Iterator[None]:
    yield


async def admitted(guard: BudgetGuard, inp: InstanceInput, totals: Callable[[], RunTotals],
                   waiting: Callable[[str], AbstractContextManager[None]] = _quietly) -> InstanceResult | None:
    """None: the budget lets the instance start; else its `not started: …` result. While a running
    instance's spend is still unknown it waits (within `waiting(what the run says of it)`)."""
    decided: list[Admission] = []

    def decide() -> bool:
        # The totals only with a budget to hold them to: summing every instance's for each is quadratic in the run's size.
        decided[:] = [guard.admit(inp.key, totals() if guard.budget is not None else RunTotals())]
        return decided[0] != "wait"

    if not decide():
        with waiting(guard.learning()):
            await workflow.wait_condition(decide)
    if decided[0] == "start":
        return None
    spent = totals()
    expected = guard.expected(spent) if not guard.reached(spent) else ""
    note = guard.stop(spent, inp.key)
    return not_started(inp, f"would pass the run's budget ({note}; {expected})" if expected else f"the run's budget is reached ({note})")


def not_started(inp: InstanceInput, why: str) -> InstanceResult:
    """The result of an instance the budget kept from starting."""
    return InstanceResult(success=False, status="canceled", key=inp.key, error=f"not started: {why}",
                          error_type="budget", plugin=inp.task.plugin, model=inp.task.model)


async def within_budget(guard: BudgetGuard, inp: InstanceInput, running: Coroutine[Any, Any, InstanceResult],
                        totals: Callable[[], RunTotals]) -> InstanceResult:
    """The instance's result; with `--budget-policy cancel`, stopped once the budget is reached."""
    budget = guard.budget
    if budget is None or budget.policy != "cancel" or guard.projector.is_selection(inp.key):
        return await running
    task: asyncio.Task[InstanceResult] = asyncio.create_task(running)
    try:
        await workflow.wait_condition(lambda: task.done() or guard.reached(totals()))
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    live = guard.live.get(inp.key, InstanceSpend(key=inp.key))
    note = guard.stop(totals(), inp.key)
    task.cancel()
    try:
        result = await task
    except asyncio.CancelledError:
        result = InstanceResult(success=False, key=inp.key, plugin=inp.task.plugin, model=inp.task.model)
    result.success, result.status, result.error_type = False, "canceled", "budget"
    result.error = f"stopped: the run's budget is reached ({note})"
    result.cost_usd, result.cost_estimated = max(result.cost_usd, live.cost_usd), result.cost_estimated or live.cost_estimated
    return result
