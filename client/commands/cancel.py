"""`orchard cancel RUN`: agents stop, workspaces are removed, the run ends as canceled.

The cancel is carried out by the run's worker, so the command first makes sure one serves the run
(embedded: it restarts the worker, whose start also ends the attempts a dead worker left), then
says what it is waiting for while the run stops. A run whose strategy code fails cannot carry a
cancel out: it is terminated instead, and its agents stop at their next heartbeat.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetStickyTaskQueueRequest
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus

from client.commands.clean import clean
from client.errors import EXIT_FAILURE, EXIT_SUCCESS, UsageError
from client.runs import FoundRun, NoWorker, ensure_served, find_run, target_for
from client.snapshots import outcome_of, workflow_task_state

CANCEL_WAIT_SECONDS = 120.0
SAY_EVERY_SECONDS = 5.0


async def cmd_cancel(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    run = await find_run(target, args.run_id)
    if not run.running:
        raise UsageError(f"run {args.run_id} is already {run.desc.status.name.lower() if run.desc.status else 'closed'}; nothing to cancel")
    failure = await _strategy_failure(run, run.desc)
    if failure is not None:
        return await _terminate(run, failure)
    queue = run.memo.get("task_queue") or run.desc.task_queue
    try:
        await ensure_served(target, queue, run.memo.get("strategy_spec"), None, run.memo.get("worker_modules"))
    except NoWorker as e:
        await run.handle.cancel()
        print(f"run {args.run_id}: cancel requested, but {e}; it ends as canceled once one does")
        return EXIT_SUCCESS
    # Sent to the normal queue, not to the sticky queue of a worker that may have died (there it
    # would wait out the sticky timeout before any worker took it).
    await target.client.workflow_service.reset_sticky_task_queue(
        ResetStickyTaskQueueRequest(namespace=target.client.namespace, execution=WorkflowExecution(workflow_id=run.handle.id))
    )
    await run.handle.cancel()
    started = said_at = time.monotonic()
    while True:
        desc = await run.handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            break
        failure = await _strategy_failure(run, desc)
        if failure is not None:
            return await _terminate(run, failure)
        if time.monotonic() - said_at >= SAY_EVERY_SECONDS:
            print(f"orchard: run {args.run_id}: waiting for {_what_it_waits_for(desc)}", file=sys.stderr, flush=True)
            said_at = time.monotonic()
        if time.monotonic() - started > CANCEL_WAIT_SECONDS:
            print(f"orchard: run {args.run_id} is still stopping (waiting for {_what_it_waits_for(desc)}); "
                  f"the cancel stands: follow it with `orchard watch {args.run_id}`", file=sys.stderr)
            return EXIT_FAILURE
        await asyncio.sleep(0.3)
    outcome = await outcome_of(run.handle)
    await clean(args.run_id, open_run_ids=set())  # what an attempt of a dead worker left, whose retry never came
    print(f"run {args.run_id}: {outcome.status}; its agents were stopped and their workspaces removed")
    return EXIT_SUCCESS


async def _strategy_failure(run: FoundRun, desc: WorkflowExecutionDescription) -> str | None:
    """Why the run's workflow task keeps failing (a strategy bug), if it does."""
    if desc.raw_description.pending_workflow_task.attempt <= 1:
        return None
    _, failure = await workflow_task_state(run.handle)
    return failure


async def _terminate(run: FoundRun, failure: str) -> int:
    await run.handle.terminate(f"orchard cancel: its strategy code fails, so it cannot carry out a cancel ({failure})")
    print(f"run {run.handle.id}: terminated, since its strategy code fails ({failure}) and cannot carry out a cancel; "
          "its agents stop at their next heartbeat")
    return EXIT_SUCCESS


def _what_it_waits_for(desc: WorkflowExecutionDescription) -> str:
    pending = [p.activity_id for p in desc.raw_description.pending_activities]
    if pending:
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        return f"{len(pending)} activit{'y' if len(pending) == 1 else 'ies'} to stop ({shown})"
    return "its worker to carry out the cancel"
