"""`orchard budget set|show|list`: shared budgets, each an entity workflow (workflows/coordination/budgets.py)
that the instances of every run naming it (`--budget NAME`, orchard.yaml's `budget: {shared: NAME}`) ask
for headroom before they start."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from temporalio.client import WithStartWorkflowOperation, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from client.errors import EXIT_SUCCESS, UsageError
from client.render import make_console
from client.runs import Target, ensure_served, target_for
from orchard_common.config import load_config
from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.sdk.models import first_error
from workflows.sdk.shared_budgets import SHARED_BUDGET_WORKFLOW, SharedBudgetSpec, SharedBudgetState, period_end, period_start, shared_budget_id


async def cmd_budget(args: argparse.Namespace) -> int:
    target = await target_for(args.address, args.namespace, args.config)
    queue = args.task_queue or load_config(args.config).temporal.task_queue
    await ensure_served(target, queue, None)  # a budget's workflow answers through a worker of the runs' queue
    if args.budget_action == "set":
        states = [await _set(target, args, queue)]
    elif args.budget_action == "show":
        states = [await _state(target, args.name)]
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
        console.print(f"{row['name']}: spent ${row['spent']:.2f} of ${row['usd']:g} this {row['per']} (turns {row['turns'][:16]} UTC), "
                      f"past it new instances {'wait' if row['policy'] == 'wait' else 'fail'}", markup=False, highlight=False)
    return EXIT_SUCCESS


def _row(state: SharedBudgetState, now: datetime) -> dict[str, Any]:
    spec = state.spec
    current = state.period_start == period_start(now, spec.per)  # a period turned since it was last asked: nothing spent in this one
    return {"name": spec.name, "usd": spec.usd, "per": spec.per, "policy": spec.policy, "spent": state.spent if current else 0.0,
            "turns": period_end(now, spec.per).isoformat()}


async def _set(target: Target, args: argparse.Namespace, queue: str) -> SharedBudgetState:
    try:
        spec = SharedBudgetSpec(name=args.name, usd=args.usd, per=args.per, policy=args.policy)
    except ValidationError as e:
        where, message = first_error(e)
        raise UsageError(f"{'--usd' if where == 'usd' else where}: {message}") from None
    start = WithStartWorkflowOperation(SharedBudgetWorkflow.run, SharedBudgetState(spec=spec), id=shared_budget_id(spec.name),
                                       task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
    return await target.client.execute_update_with_start_workflow(SharedBudgetWorkflow.configure, spec, start_workflow_operation=start)


async def _state(target: Target, name: str) -> SharedBudgetState:
    handle = target.client.get_workflow_handle(shared_budget_id(name))
    try:
        return await handle.query(SharedBudgetWorkflow.state)
    except (RPCError, WorkflowQueryFailedError):
        raise UsageError(f"no shared budget {name!r}; make it with `orchard budget set {name} --usd AMOUNT --per day`") from None


async def _all(target: Target) -> Any:
    async for wf in target.client.list_workflows(f'WorkflowType = "{SHARED_BUDGET_WORKFLOW}" AND ExecutionStatus = "Running"'):
        yield await target.client.get_workflow_handle(wf.id).query(SharedBudgetWorkflow.state)
