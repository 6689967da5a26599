"""`ask_shared_budget`: ask a shared budget's workflow for headroom for one instance (an update,
checked by its validator). A budget nobody made answers `found=False`: the run says how to make it."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode

from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.sdk.shared_budgets import AskHeadroomInput, Headroom, shared_budget_id


@activity.defn
async def ask_shared_budget(inp: AskHeadroomInput) -> Headroom:
    handle = activity.client().get_workflow_handle(shared_budget_id(inp.name))
    try:
        return await handle.execute_update(SharedBudgetWorkflow.ask, inp.request)
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return Headroom(granted=False, found=False, name=inp.name, spent=0.0, usd=0.0, per="day", policy="fail", until=datetime.now(UTC))
