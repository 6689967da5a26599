"""A run's side of a shared budget (`--budget NAME`, workflows/sdk/shared_budgets.py): before an
instance starts, ask the budget's workflow for headroom (the `ask_shared_budget` activity, an
update with a validator); past the budget wait on a timer until the period turns (or fail, by the
budget's policy); when the instance ends, tell the budget what it spent (a signal)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.sdk.instances import INFRA_RETRY
from workflows.sdk.models import InstanceInput, InstanceResult
from workflows.sdk.shared_budgets import SPENT_SIGNAL, AskHeadroomInput, BudgetSpent, Headroom, HeadroomRequest, shared_budget_id

ASK_TIMEOUT = timedelta(seconds=60)


class SharedBudgetGate:
    def __init__(self, name: str | None, run_id: str, on_wait: Callable[[str, datetime | None], None]):
        self.name = name
        self._run_id = run_id
        self._on_wait = on_wait
        self._waiting: dict[str, datetime] = {}

    @property
    def until(self) -> datetime | None:
        """While instances wait for the period to turn: until when."""
        return max(self._waiting.values()) if self._waiting else None

    async def admit(self, inp: InstanceInput) -> InstanceResult | None:
        """None: the instance may start; else why it does not (a failed result)."""
        if self.name is None:
            return None
        while True:
            headroom: Headroom = await workflow.execute_activity(
                "ask_shared_budget", AskHeadroomInput(name=self.name, request=HeadroomRequest(run_id=self._run_id, key=inp.key)),
                result_type=Headroom, activity_id=f"budget/{inp.key}/{workflow.now():%Y%m%dT%H%M%S}", summary=f"headroom of budget {self.name}",
                start_to_close_timeout=ASK_TIMEOUT, retry_policy=INFRA_RETRY,
            )
            if headroom.granted:
                return None
            if not headroom.found:
                return self._refused(inp, f"no shared budget {self.name!r}: make it with `orchard budget set {self.name} --usd AMOUNT --per day`")
            if headroom.policy == "fail":
                return self._refused(inp, f"not started: {headroom.text}")
            self._waiting[inp.key] = headroom.until
            self._on_wait(self.name, self.until)
            try:
                await workflow.sleep(max(headroom.until - workflow.now(), timedelta(seconds=1)), summary=f"waiting for budget {self.name}")
            except asyncio.CancelledError:  # not in a `finally`: a worker evicting the run closes it outside the workflow's loop
                self._done_waiting(inp.key)
                raise
            self._done_waiting(inp.key)

    def _done_waiting(self, key: str) -> None:
        del self._waiting[key]
        if self.name is not None:
            self._on_wait(self.name, self.until)

    def _refused(self, inp: InstanceInput, why: str) -> InstanceResult:
        return InstanceResult(success=False, status="failed", key=inp.key, error=why, error_type="budget", plugin=inp.task.plugin, model=inp.task.model)

    async def spent(self, key: str, result: InstanceResult) -> None:
        """Tell the budget what the instance spent (once per instance: the budget counts it once)."""
        if self.name is None or not result.cost_usd:
            return
        try:
            await workflow.get_external_workflow_handle(shared_budget_id(self.name)).signal(
                SPENT_SIGNAL, BudgetSpent(run_id=self._run_id, key=key, cost_usd=result.cost_usd))
        except Exception as e:  # noqa: BLE001 - a budget removed meanwhile: the run goes on
            workflow.logger.warning("could not tell budget %s what %s spent: %s", self.name, key, e)
