"""Instances past a run's first `instances_per_history` go in batches to child workflows.

A Temporal history holds at most 51,200 events and each instance costs its run ~6, so a run that
asked for 10,000 instances in its own history could never finish. A run therefore schedules its
first `RunInput.instances_per_history` (default 500) instances as activities of its own; the
instances it asks for after that are gathered (every instance asked for in the same step of the
strategy) and run by `orchard-instances` child workflows of up to that many each, one batch at a
time once the run's own instances are done, with the run's max_parallel and queue order. Each
history so stays near 500 instances' worth of events at any n; the strategy sees a handle per
instance as ever. A strategy that asks for its instances one after another should continue as new
instead (ctx.should_continue_as_new): a batch of one per instance would still grow its history.

A run with a budget gives each batch its budget carried with what the run had spent when the batch
starts (Budget.for_child) and what an instance of each step is expected to spend; the batch admits
each instance as the run does (workflows/sdk/admission.py), and the run starts no batch once its
budget is reached: the instances it holds end `not started`, as the run's own would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

from workflows.sdk.admission import admitted, not_started, within_budget
from workflows.sdk.budget import Budget, BudgetGuard
from workflows.sdk.headroom import SharedBudgetGate
from workflows.sdk.instances import run_instance
from workflows.sdk.models import InstanceBatch, InstanceInput, InstanceResult, RunTotals
from workflows.sdk.pauses import ParentTeller
from workflows.sdk.slots import slots

BATCH_WORKFLOW = "orchard-instances"


@workflow.defn(name=BATCH_WORKFLOW)
class InstanceBatchWorkflow:
    """Runs a batch of a run's instances, max_parallel at a time; their results, in order."""

    @workflow.run
    async def run(self, batch: InstanceBatch) -> list[InstanceResult]:
        free = slots(batch.max_parallel, batch.randomize_queue)
        parent = ParentTeller()  # the run shows its batch's waits for quota as its own
        guard = BudgetGuard(batch.budget)
        guard.projector.largest.update(batch.expected)  # learnt by the run: the batch's first instances need not run alone
        spent = [RunTotals()]  # what the batch's ended instances spent; the run's before it is the budget's carried part

        shared = SharedBudgetGate(batch.shared_budget, batch.instances[0].run_id if batch.instances else "", lambda name, until: None)

        async def one(inp: InstanceInput) -> InstanceResult:
            async with free:
                def told(until: datetime | None) -> None:
                    parent.tell(inp.key, until)

                if guard.budget is None and shared.name is None:
                    return await run_instance(inp, told)
                refused = await admitted(guard, inp, lambda: spent[0]) or await shared.admit(inp, guard.projector.estimate(inp.key))
                if refused is not None:
                    guard.projector.forget(inp.key)
                    return refused
                try:
                    result = await within_budget(guard, inp, run_instance(inp, told), lambda: spent[0])
                except asyncio.CancelledError:
                    await shared.spent(inp.key, 0.0)  # its hold settled: what it spent is unknown here (its live spend goes to the run)
                    raise
                await shared.spent(inp.key, result.cost_usd)
                guard.settled(inp.key, (result.cost_usd, result.input_tokens + result.output_tokens))
                spent[0] = spent[0].plus(RunTotals(instances_run=1, input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                                                   cost_usd=result.cost_usd, cost_estimated=result.cost_estimated))
                return result

        results = list(await asyncio.gather(*(one(inp) for inp in batch.instances)))
        await parent.sent()
        return results


class Batches:
    """The run's side: instances queued for batches, and the task that runs the batches."""

    def __init__(self, run_id: str, size: int, max_parallel: int, randomize_queue: bool, own_instances: Callable[[], list[asyncio.Task[InstanceResult]]]):
        self._run_id, self._size, self._max_parallel, self._randomize = run_id, size, max_parallel, randomize_queue
        self._own_instances = own_instances
        self._queue: list[tuple[Callable[[], InstanceInput], asyncio.Future[InstanceResult]]] = []
        """Instances waiting for a batch: how to make each one's input (when its batch starts), its result."""
        self._runner: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = 0
        self.running: str | None = None
        """The workflow id of the batch running now (its instances' activities and heartbeats are there)."""
        self.on_start: Callable[[list[InstanceInput]], None] = lambda _: None
        self.budget: Callable[[], tuple[Budget | None, dict[str, tuple[float, int]]]] = lambda: (None, {})
        """The next batch's budget and what an instance of each step is expected to spend (InstanceBatch)."""
        self.budgeted = False
        """The run has a budget: each batch gets it (`budget`), and none starts once it is reached (`stopped`)."""
        self.shared: str | None = None
        """The run's shared budget, which each batch's instances ask for headroom too."""
        self.stopped: Callable[[], str | None] = lambda: None
        """Why the run starts no more batches (`the run's budget is reached (spent $5.20 of $5)`); None: it may."""

    def add(self, make: Callable[[], InstanceInput]) -> asyncio.Future[InstanceResult]:
        """An instance for a batch, its input made by `make` once its batch starts; its result to come."""
        if self._loop is None:  # asked once: thousands of instances are added in one workflow task
            self._loop = asyncio.get_running_loop()
        result: asyncio.Future[InstanceResult] = self._loop.create_future()
        self._queue.append((make, result))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return result

    def pending(self) -> list[asyncio.Task[None]]:
        return [self._runner] if self._runner is not None and not self._runner.done() else []

    async def _run(self) -> None:
        # The run's own instances first, so no more than max_parallel instances run at once.
        await asyncio.gather(*self._own_instances(), return_exceptions=True)
        while self._queue:
            chunk = [(make(), result) for make, result in self._queue[: self._size]]
            self._queue = self._queue[self._size :]
            if self.budgeted:
                await asyncio.sleep(0)  # the run records the last batch's results first (no timer: sleep(0) only yields)
            why = self.stopped()
            if why is not None:  # this batch and the ones after it do not start
                for inp, result in chunk:
                    result.set_result(not_started(inp, why))
                continue
            budget, expected = self.budget()
            self._started += 1
            self.on_start([inp for inp, _ in chunk])
            self.running = f"{self._run_id}.instances.{self._started}"
            try:
                results: list[InstanceResult] = await workflow.execute_child_workflow(
                    BATCH_WORKFLOW,
                    InstanceBatch(instances=[inp for inp, _ in chunk], max_parallel=self._max_parallel, randomize_queue=self._randomize,
                                  budget=budget, expected=expected, shared_budget=self.shared),
                    id=self.running,
                    task_queue=workflow.info().task_queue,
                    result_type=list[InstanceResult],
                    parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
                    static_summary=f"instances {chunk[0][0].key} … {chunk[-1][0].key} of {self._run_id}",
                )
            except (asyncio.CancelledError, ChildWorkflowError) as e:
                if isinstance(e, ChildWorkflowError) and not isinstance(e.cause, CancelledError):
                    results = _failed(chunk, e)
                else:  # canceled with the run: so is every instance still waiting for a batch
                    for result in [result for _, result in chunk] + [result for _, result in self._queue]:
                        result.cancel()
                    self._queue = []
                    raise asyncio.CancelledError("the run was canceled") from None
            finally:
                self.running = None
            for (_, result), got in zip(chunk, results, strict=True):
                if not result.done():
                    result.set_result(got)


def _failed(chunk: list[tuple[InstanceInput, asyncio.Future[InstanceResult]]], e: ChildWorkflowError) -> list[InstanceResult]:
    message = f"the batch of instances failed: {e.cause or e}"
    return [InstanceResult(success=False, status="failed", key=inp.key, error=message, error_type="infrastructure", plugin=inp.task.plugin) for inp, _ in chunk]
