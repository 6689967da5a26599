"""The quota workflow: one per set of credentials (by fingerprint), paused until a provider's
reset while any run's instance reports a limit, so every run using those credentials waits the
same pause (workflows/sdk/quota.py). Reports arrive as an update (`pause`, validated: a reset in
the past is refused); instances ask the `state` query before starting an agent. The workflow ends
once its pause is over: the next report starts a fresh one.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow

from workflows.sdk.quota import QUOTA_WORKFLOW, QuotaReport, QuotaState

KEPT_RUNS = 20
SAME_RESET = timedelta(seconds=2)
"""Resets reported this close to the pause's end are the same reset seen by other agents a moment
later (a `retry-after` is whole seconds): the pause keeps its end, so every run resumes together."""


@workflow.defn(name=QUOTA_WORKFLOW)
class QuotaWorkflow:
    @workflow.init
    def __init__(self, state: QuotaState) -> None:
        self._state = state

    @workflow.run
    async def run(self, state: QuotaState) -> QuotaState:
        # Sleep until the pause ends; a report that moves it later wakes the wait to sleep again.
        while self._state.paused_at(workflow.now()):
            await self._sleep_until_moved()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _sleep_until_moved(self) -> None:
        until = self._state.until
        assert until is not None
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._state.until != until, timeout=until - workflow.now())

    @workflow.update
    def pause(self, report: QuotaReport) -> QuotaState:
        """Paused until the latest reset reported; the state as it is now."""
        state = self._state
        if state.until is None or report.until > state.until + SAME_RESET:
            state.until, state.reason = report.until, report.reason
        state.reports += 1
        if report.run_id and report.run_id not in state.runs:
            state.runs = [*state.runs, report.run_id][-KEPT_RUNS:]
        return state

    @pause.validator
    def check_pause(self, report: QuotaReport) -> None:
        if report.until <= workflow.now():
            raise ValueError(f"a pause must end in the future, not at {report.until.isoformat()}")

    @workflow.query
    def state(self) -> QuotaState:
        return self._state
