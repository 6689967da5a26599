"""`orchard budget set|show|list|delete`: shared budgets, each an entity workflow (workflows/coordination/budgets.py)
that the instances of every run naming it (`--budget NAME`, orchard.yaml's `budget: {shared: NAME}`) ask
for headroom before they start."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import WithStartWorkflowOperation, WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from client.errors import EXIT_SUCCESS, UsageError
from client.render import make_console
from client.runs import Target, ensure_served, target_for
from orchard_common.config import load_config
from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.sdk.models import first_error
from workflows.sdk.shared_budgets import SHARED_BUDGET_WORKFLOW, DeleteRequest, SharedBudgetSpec, SharedBudgetState, period_end, period_start, shared_budget_id


async def cmd_budget(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    queue = args.task_queue or load_config(args.config).temporal.task_queue
    await ensure_served(target, queue, None)  # a budget's workflow answers through a worker of the runs' queue
    if args.budget_action == "set":
        states = [await _set(target, args, queue)]
    elif args.budget_action == "show":
        states = [await _state(target, args.name)]
    elif args.budget_action == "delete":
        states = [await _delete(target, args.name, args.force)]
    else:
        states = [state async for state in _all(target)]
    now = datetime.now(UTC)
    if args.output == "json":
        for state in states:
            print(json.dumps(_row(state, now)))
        return EXIT_SUCCESS
    console = make_console()
    if not states:
        console.print("no shared budget; make one with `orchard budget set NAME --usd 50 --per day`")
    for state in states:
        row = _row(state, now)
        running = (f", ${row['running']:.2f} so far by {row['running_instances']} running (holding ${row['held']:.2f})"
                   if row["running_instances"] else "")
        console.print(f"{'deleted ' if args.budget_action == 'delete' else ''}{row['name']}: spent ${row['spent']:.2f}{running} of ${row['usd']:g} "
                      f"this {row['per']} (turns {row['turns'][:16]} UTC), past it new instances {'wait' if row['policy'] == 'wait' else 'fail'}",
                      markup=False, highlight=False)
    return EXIT_SUCCESS


def _row(state: SharedBudgetState, now: datetime) -> dict[str, Any]:
    spec = state.spec
    current = state.period_start == period_start(now, spec.per)  # a period turned since it was last asked: nothing spent in this one
    holds = state.holds if current else {}
    return {"name": spec.name, "usd": spec.usd, "per": spec.per, "policy": spec.policy, "spent": state.spent if current else 0.0,
            "running": round(sum(h.live for h in holds.values()), 6), "held": round(sum(h.amount for h in holds.values()), 6),
            "running_instances": len(holds), "turns": period_end(now, spec.per).isoformat()}


async def _set(target: Target, args: argparse.Namespace, queue: str) -> SharedBudgetState:
    try:
        spec = SharedBudgetSpec(name=args.name, usd=args.usd, per=args.per, policy=args.policy)
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"{'--usd' if where == 'usd' else where}: {message}") from None
    start = WithStartWorkflowOperation(SharedBudgetWorkflow.run, SharedBudgetState(spec=spec), id=shared_budget_id(spec.name),
                                       task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return await target.client.execute_update_with_start_workflow(SharedBudgetWorkflow.configure, spec, start_workflow_operation=start)


def _missing(name: str) -> UsageError:
    return UsageError(f"no shared budget {name!r}; make it with `orchard budget set {name} --usd AMOUNT --per day`")


async def _state(target: Target, name: str) -> SharedBudgetState:
    handle = target.client.get_workflow_handle(shared_budget_id(name))
    try:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:  # deleted: its last state is still queryable
            raise _missing(name)
        return await handle.query(SharedBudgetWorkflow.state)
    except (RPCError, WorkflowQueryFailedError):
        raise _missing(name) from None


async def _delete(target: Target, name: str, force: bool) -> SharedBudgetState:
    """End the budget's workflow; refused (one line, exit 2) while instances hold reservations, unless `force`."""
    await _state(target, name)
    try:
        return await target.client.get_workflow_handle(shared_budget_id(name)).execute_update(SharedBudgetWorkflow.delete, DeleteRequest(force=force))
    except WorkflowUpdateFailedError as e:
        raise UsageError(str(e.cause.message if isinstance(e.cause, ApplicationError) else e.cause)) from None
    except RPCError:
        raise _missing(name) from None


async def _all(target: Target) -> Any:
    async for wf in target.client.list_workflows(f'WorkflowType = "{SHARED_BUDGET_WORKFLOW}" AND ExecutionStatus = "Running"'):
        yield await target.client.get_workflow_handle(wf.id).query(SharedBudgetWorkflow.state)
