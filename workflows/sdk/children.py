"""Child strategies (`ctx.run_strategy`): another strategy run as a child workflow of this run.

A child has its own workflow type and history (the Temporal UI shows it under its parent), its
own run id `<parent run id>.<strategy>.k<hash of key>` (so its branches and keys never collide
with the parent's or a sibling's), and is cancelled with its parent. What it spent is added to
its parent's totals, also when it fails (a failing run carries its totals in the failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, CancelledError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

from workflows.sdk.budget import Budget
from workflows.sdk.errors import StrategyError, carried_result
from workflows.sdk.models import ChildRun, InstanceResult, RunInput, RunResult, RunTotals, key_hash8
from workflows.sdk.notify import NotifySettings
from workflows.sdk.registry import get_strategy
from workflows.sdk.visibility import run_memo, run_search_attributes


class ChildFailed(StrategyError):
    """A child strategy failed or was canceled; `child` says which and what it spent."""

    def __init__(self, child: ChildRun):
        super().__init__(f"child strategy {child.strategy} ({child.key!r}, run {child.run_id}) {child.status}: {child.error}")
        self.child = child


def strategy_class(strategy: Any) -> Any:
    """The Strategy class behind a registered name or a class; a child needs its workflow type."""
    found = get_strategy(strategy) if isinstance(strategy, str) else strategy
    if not (isinstance(found, type) and hasattr(found, "workflow_class")):
        raise StrategyError(f"{strategy!r} is not a Strategy class; a child run needs the class (register_strategy(name, cls))")
    found.workflow_class()  # raises for a strategy without execute()
    return found


class ChildRuns:
    """The children of one run, by key."""

    def __init__(self, run_id: str, parent: RunInput, budget_left: Callable[[], Budget | None] | None = None):
        """`parent`: the run's input, whose run-wide settings (repository, agent defaults, slots,
        queue order, branch namespace, strategy file) every child inherits; `budget_left`: what is
        left of the run's budget when a child starts, the child's budget."""
        self._run_id, self._parent, self._defaults = run_id, parent, parent.defaults
        self._budget_left = budget_left or (lambda: parent.budget)
        self._runs: dict[str, tuple[str, ChildRun, asyncio.Task[RunResult]]] = {}

    def _child_notify(self) -> NotifySettings | None:
        """A child tells the run's `notify:` targets of its questions and quota pauses, not of its end (its parent tells its own)."""
        notify = self._parent.notify
        return notify.model_copy(update={"child_of": self._run_id}) if notify is not None and notify.targets else None

    def records(self) -> list[ChildRun]:
        return [record for _, record, _ in self._runs.values()]

    def totals(self) -> RunTotals:
        total = RunTotals()
        for record in self.records():
            total = total.plus(record.totals)
        return total

    def pending(self) -> list[asyncio.Task[RunResult]]:
        return [task for _, _, task in self._runs.values() if not task.done()]

    async def run(self, strategy: Any, prompt: str, base_branch: str, params: dict[str, Any] | None, key: str) -> list[InstanceResult]:
        cls = strategy_class(strategy)
        name = cls.name()
        normalized = cls.normalize_params(dict(params or {}), self._defaults)
        fingerprint = hashlib.sha256(json.dumps([name, prompt, base_branch, normalized], sort_keys=True).encode()).hexdigest()[:16]
        if key in self._runs:
            known, _, task = self._runs[key]
            if known != fingerprint:
                raise StrategyError(f"key {key!r} was already used for a different child strategy; use ctx.key(...) to make keys unique")
        else:
            record = ChildRun(key=key, run_id=f"{self._run_id}.{name}.k{key_hash8(key)}", strategy=name)
            run_input = self._parent.model_copy(update={"prompt": prompt, "base_branch": base_branch, "params": normalized, "chain": None,
                                                        "budget": self._budget_left(), "notify": self._child_notify()})
            task = asyncio.create_task(self._execute(record, run_input))
            self._runs[key] = (fingerprint, record, task)
        return list((await task).instances)

    async def _execute(self, record: ChildRun, run_input: RunInput) -> RunResult:
        task_queue = workflow.info().task_queue
        try:
            result: RunResult = await workflow.execute_child_workflow(
                record.strategy,
                run_input,
                id=record.run_id,
                task_queue=task_queue,
                result_type=RunResult,
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                search_attributes=run_search_attributes(record.strategy, run_input.repo),
                memo=run_memo(run_input, task_queue, run_input.prompt, parent=self._run_id),
                static_summary=f"{record.strategy} (child of {self._run_id}): {run_input.prompt[:100]}",
            )
        except asyncio.CancelledError:
            record.status = "canceled"
            raise
        except ChildWorkflowError as e:
            cause = e.cause
            carried = carried_result(cause)
            if carried is not None and isinstance(cause, ApplicationError):
                # A child whose results all failed: its results come back as a completed child's
                # did (before such a run was Failed in Temporal), and the parent decides.
                result = carried
                record.error = cause.message
            else:
                record.status = "canceled" if isinstance(cause, CancelledError) else "failed"
                if record.status == "canceled" and workflow.cancellation_reason() is not None:
                    raise asyncio.CancelledError("canceled with its parent") from None
                record.error = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
                if isinstance(cause, ApplicationError) and cause.details:
                    record.totals = RunTotals.model_validate(cause.details[0])
                raise ChildFailed(record) from None
        record.status = result.status
        record.totals = RunTotals(
            instances_run=result.instances_run, input_tokens=result.input_tokens, output_tokens=result.output_tokens,
            cost_usd=result.cost_usd, cost_estimated=result.cost_estimated,
        )
        return result
