"""A running instance tells its run what it has spent so far, while the run has a budget
(workflows/sdk/budget.py): a signal when the figures changed, at most every SPEND_EVERY seconds, so
the run counts running instances' spend before it starts another; and its shared budget too
(`--budget NAME`), which counts it against what the instance holds and shows it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity
from temporalio.service import RPCError

from activities.agents.base import AgentState
from activities.heartbeat import alongside
from workflows.sdk.budget import SPEND_EVERY, SPEND_SIGNAL, InstanceSpend
from workflows.sdk.shared_budgets import LIVE_SIGNAL, BudgetLive, shared_budget_id

LOOK_EVERY = 0.5
"""How often the figures are looked at: a change is told within this, then no sooner than SPEND_EVERY after the last."""


@contextlib.asynccontextmanager
async def reporting_spend(run_id: str, key: str, state: AgentState, every: float = SPEND_EVERY, look: float = LOOK_EVERY,
                          shared: str | None = None) -> AsyncIterator[None]:
    """Signal the run `run_id` (and the shared budget `shared`) the live spend in `state` while the block runs."""
    try:
        handle = activity.client().get_workflow_handle(run_id)
        budget = activity.client().get_workflow_handle(shared_budget_id(shared)) if shared else None
    except RuntimeError:  # outside a worker (a test's ActivityEnvironment): nobody to tell
        yield
        return

    async def report() -> None:
        said = (0.0, 0)
        while True:
            await asyncio.sleep(look)
            now = (state.cost_usd, state.input_tokens + state.output_tokens)
            if now != said:
                with contextlib.suppress(RPCError):  # a lost report is made good by the next one, or by the result
                    await handle.signal(SPEND_SIGNAL, InstanceSpend(key=key, cost_usd=now[0], tokens=now[1], cost_estimated=state.cost_estimated))
                if budget is not None:
                    with contextlib.suppress(RPCError):  # a budget deleted meanwhile
                        await budget.signal(LIVE_SIGNAL, BudgetLive(run_id=run_id, key=key, cost_usd=now[0]))
                said = now
                await asyncio.sleep(max(every - look, 0))

    async with alongside(report()):
        yield
