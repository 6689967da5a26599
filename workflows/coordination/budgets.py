"""Shared budgets: a long-lived workflow per budget (workflows/sdk/shared_budgets.py).

`configure` (an update: `orchard budget set`) sets its amount, period and policy; `ask` (an update
with a validator, from an instance's activity) grants headroom while this period's spend is under
the amount; instances tell what they spent by a signal (`SPENT_SIGNAL`), counted once per instance
and period. The period turns on the workflow's clock when it is next asked or told. The workflow
continues as new now and then, carrying its state without the instances it counted.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.sdk.shared_budgets import SPENT_SIGNAL, BudgetSpent, Headroom, HeadroomRequest, SharedBudgetSpec, SharedBudgetState, period_end, period_start

KEPT_COUNTED = 5000
HANDLED_PER_RUN = 2000


@workflow.defn(name="orchard-budget")
class SharedBudgetWorkflow:
    @workflow.init
    def __init__(self, state: SharedBudgetState) -> None:
        self._state = state
        self._handled = 0

    @workflow.run
    async def run(self, state: SharedBudgetState) -> None:
        await workflow.wait_condition(lambda: self._handled >= HANDLED_PER_RUN or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self._state.model_copy(update={"counted": self._state.counted[-KEPT_COUNTED:]}))

    def _turn(self) -> None:
        """Start a new period when the current one is over."""
        start = period_start(workflow.now(), self._state.spec.per)
        if self._state.period_start != start:
            self._state.period_start, self._state.spent, self._state.counted = start, 0.0, []

    @workflow.update
    def configure(self, spec: SharedBudgetSpec) -> SharedBudgetState:
        """`orchard budget set`: the new amount, period and policy (what this period spent stays)."""
        per_changed = spec.per != self._state.spec.per
        self._state.spec = spec
        if per_changed:
            self._state.period_start = None
        self._turn()
        self._handled += 1
        return self._state

    @configure.validator
    def check_configure(self, spec: SharedBudgetSpec) -> None:
        if spec.name != self._state.spec.name:
            raise ValueError(f"this is budget {self._state.spec.name!r}, not {spec.name!r}")

    @workflow.update
    def ask(self, request: HeadroomRequest) -> Headroom:
        """Headroom for one instance: granted while this period's spend is under the amount."""
        self._turn()
        state, spec = self._state, self._state.spec
        granted = state.spent < spec.usd
        state.asked += 1
        state.refused += not granted
        self._handled += 1
        return Headroom(granted=granted, name=spec.name, spent=round(state.spent, 6), usd=spec.usd, per=spec.per, policy=spec.policy,
                        until=period_end(workflow.now(), spec.per))

    @ask.validator
    def check_ask(self, request: HeadroomRequest) -> None:
        if not request.run_id or not request.key:
            raise ValueError("a request for headroom names its run and instance")

    @workflow.signal(name=SPENT_SIGNAL)
    def spent(self, report: BudgetSpent) -> None:
        self._turn()
        mark = f"{report.run_id}/{report.key}"
        if mark not in self._state.counted:
            self._state.counted.append(mark)
            self._state.spent = round(self._state.spent + report.cost_usd, 6)
        self._handled += 1

    @workflow.query
    def state(self) -> SharedBudgetState:
        return self._state
