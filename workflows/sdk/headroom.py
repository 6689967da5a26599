"""A run's side of a shared budget (`--budget NAME`, workflows/sdk/shared_budgets.py): before an
instance starts, ask the budget's workflow for headroom (the `ask_shared_budget` activity, an
update with a validator) with what the instance is expected to spend, which it then holds; past the
budget wait on a timer until the period turns (or fail, by the budget's policy); while running
instances hold the rest, ask again shortly; when the instance ends (or is canceled), tell the
budget what it spent (a signal), which settles its hold."""

from __future__ import annotations

import asyncio
import contextlib
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
        self._ended = 0
        """Instances of this run that told the budget what they spent (a busy wait ends at the next)."""

    @property
    def until(self) -> datetime | None:
        """While instances wait for the period to turn: until when."""
        return max(self._waiting.values()) if self._waiting else None

    async def admit(self, inp: InstanceInput, estimate: float = 0.0) -> InstanceResult | None:
        """None: the instance may start (it holds `estimate` of the budget); else why it does not (a failed result)."""
        if self.name is None:
            return None
        busy = 0
        while True:
            request = HeadroomRequest(run_id=self._run_id, key=inp.key, estimate=round(estimate, 6))
            headroom: Headroom = await workflow.execute_activity(
                "ask_shared_budget", AskHeadroomInput(name=self.name, request=request),
                result_type=Headroom, activity_id=f"budget/{inp.key}/{workflow.now():%Y%m%dT%H%M%S}", summary=f"headroom of budget {self.name}",
                start_to_close_timeout=ASK_TIMEOUT, retry_policy=INFRA_RETRY,
            )
            if headroom.granted:
                return None
            if not headroom.found:
                return self._refused(inp, f"no shared budget {self.name!r}: make it with `orchard budget set {self.name} --usd AMOUNT --per day`")
            if headroom.policy == "fail" and not headroom.busy:
                return self._refused(inp, f"not started: {headroom.text}")
            # Held by running instances: ask again soon (1 s, doubling to BUSY_RETRY); past the budget: when the period turns.
            until = min(headroom.until, workflow.now() + timedelta(seconds=2**busy)) if headroom.busy else headroom.until
            busy += headroom.busy
            self._waiting[inp.key] = until
            self._on_wait(self.name, self.until)
            try:
                if headroom.busy:  # or sooner, when one of this run's instances ends and settles its hold
                    with contextlib.suppress(asyncio.TimeoutError):
                        await workflow.wait_condition(self._one_more_ended(), timeout=max(until - workflow.now(), timedelta(seconds=1)),
                                                      timeout_summary=f"waiting for budget {self.name}")
                else:
                    await workflow.sleep(max(until - workflow.now(), timedelta(seconds=1)), summary=f"waiting for budget {self.name}")
            except asyncio.CancelledError:  # not in a `finally`: a worker evicting the run closes it outside the workflow's loop
                self._done_waiting(inp.key)
                raise
            self._done_waiting(inp.key)

    def _one_more_ended(self) -> Callable[[], bool]:
        ended = self._ended
        return lambda: self._ended != ended

    def _done_waiting(self, key: str) -> None:
        del self._waiting[key]
        if self.name is not None:
            self._on_wait(self.name, self.until)

    def _refused(self, inp: InstanceInput, why: str) -> InstanceResult:
        return InstanceResult(success=False, status="failed", key=inp.key, error=why, error_type="budget", plugin=inp.task.plugin, model=inp.task.model)

    async def spent(self, key: str, cost_usd: float) -> None:
        """Tell the budget what the instance spent, which settles its hold (once per instance: the budget counts it once)."""
        if self.name is None:
            return
        try:
            await workflow.get_external_workflow_handle(shared_budget_id(self.name)).signal(
                SPENT_SIGNAL, BudgetSpent(run_id=self._run_id, key=key, cost_usd=cost_usd))
            self._ended += 1  # once the budget has it: a busy wait asks again now
        except Exception as e:  # noqa: BLE001 - a budget removed meanwhile: the run goes on
            workflow.logger.warning("could not tell budget %s what %s spent: %s", self.name, key, e)
