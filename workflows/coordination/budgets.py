"""Shared budgets: a long-lived workflow per budget (workflows/sdk/shared_budgets.py).

`configure` (an update: `orchard budget set`) sets its amount, period and policy; `ask` (an update
with a validator, from an instance's activity) grants headroom while this period's spend plus what
running instances hold is under the amount, and the instance then holds its estimate (what its run
expects it to spend, or the most one instance spent here) until it tells what it spent: so
instances asking at once cannot overshoot together. While a running instance's cost is unknown (none
has ended yet) or the holds fill the budget, an asker is told to ask again shortly (`busy`). Running
instances tell their live spend (`LIVE_SIGNAL`), which counts when it passes their hold; at their end
what they spent (`SPENT_SIGNAL`), counted once per instance and period. The period turns on the
workflow's clock when it is next asked or told (holds of an earlier period are dropped then: a run
that died cannot hold a budget for ever). `delete` ends the workflow, refused while instances hold
reservations unless forced. The workflow continues as new now and then, carrying its state without
the instances it counted.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.sdk.shared_budgets import (
    BUSY_RETRY,
    LIVE_SIGNAL,
    SPENT_SIGNAL,
    BudgetLive,
    BudgetSpent,
    DeleteRequest,
    Headroom,
    HeadroomRequest,
    Hold,
    SharedBudgetSpec,
    SharedBudgetState,
    period_end,
    period_start,
)

KEPT_COUNTED = 5000
HANDLED_PER_RUN = 2000


@workflow.defn(name="orchard-budget")
class SharedBudgetWorkflow:
    @workflow.init
    def __init__(self, state: SharedBudgetState) -> None:
        self._state = state
        self._handled = 0
        self._deleted = False

    @workflow.run
    async def run(self, state: SharedBudgetState) -> None:
        await workflow.wait_condition(lambda: self._deleted or self._handled >= HANDLED_PER_RUN or workflow.info().is_continue_as_new_suggested())
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._deleted:
            return
        workflow.continue_as_new(self._state.model_copy(update={"counted": self._state.counted[-KEPT_COUNTED:]}))

    def _turn(self) -> None:
        """Start a new period when the current one is over."""
        start = period_start(workflow.now(), self._state.spec.per)
        if self._state.period_start != start:
            self._state.period_start, self._state.spent, self._state.counted, self._state.holds = start, 0.0, [], {}

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
        """Headroom for one instance: granted while this period's spend plus what running instances
        hold is under the amount (the instance then holds its estimate); `busy` when only the holds
        (or a running instance whose cost is not known yet) stand in the way."""
        self._turn()
        state, spec = self._state, self._state.spec
        mark = f"{request.run_id}/{request.key}"
        state.asked += 1
        self._handled += 1
        busy = state.spent < spec.usd and (any(not h.estimate for h in state.holds.values()) or state.spent + state.held >= spec.usd)
        granted = mark in state.holds or (state.spent < spec.usd and not busy)  # asked again (a retried activity): still granted
        if granted and mark not in state.holds:
            state.holds[mark] = Hold(run_id=request.run_id, estimate=max(request.estimate, state.largest))
        state.refused += not granted
        until = workflow.now() + BUSY_RETRY if busy and not granted else period_end(workflow.now(), spec.per)
        return Headroom(granted=granted, name=spec.name, spent=round(state.spent, 6), usd=spec.usd, per=spec.per, policy=spec.policy,
                        until=until, held=state.held, busy=busy and not granted)

    @ask.validator
    def check_ask(self, request: HeadroomRequest) -> None:
        if not request.run_id or not request.key:
            raise ValueError("a request for headroom names its run and instance")

    @workflow.signal(name=SPENT_SIGNAL)
    def spent(self, report: BudgetSpent) -> None:
        """An instance ended: its hold is settled by what it spent."""
        self._turn()
        mark = f"{report.run_id}/{report.key}"
        self._state.holds.pop(mark, None)
        if mark not in self._state.counted:
            self._state.counted.append(mark)
            self._state.spent = round(self._state.spent + report.cost_usd, 6)
            self._state.largest = max(self._state.largest, report.cost_usd)
        self._handled += 1

    @workflow.signal(name=LIVE_SIGNAL)
    def live(self, report: BudgetLive) -> None:
        """A running instance's spend so far."""
        hold = self._state.holds.get(f"{report.run_id}/{report.key}")
        if hold is not None:
            hold.live = report.cost_usd
        self._handled += 1

    @workflow.update
    def delete(self, request: DeleteRequest) -> SharedBudgetState:
        """`orchard budget delete`: the budget ends (runs naming it later are told there is none)."""
        self._deleted = True
        return self._state

    @delete.validator
    def check_delete(self, request: DeleteRequest) -> None:
        if self._state.holds and not request.force:
            raise ValueError(f"budget {self._state.spec.name!r}: {self._state.holders()} hold reservations on it; "
                             "wait for them to end, or delete it anyway with --force")

    @workflow.query
    def state(self) -> SharedBudgetState:
        return self._state
