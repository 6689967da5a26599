"""`orchard show --experiment NAME`: which run of a round-robin experiment used which variant."""

from __future__ import annotations

import json
from typing import Any

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from client.render import counted, make_console
from client.runs import Target, ensure_served
from workflows.coordination.rotation import RotationWorkflow, rotation_id
from workflows.coordination.states import RotationState
from workflows.sdk.visibility import SA_OUTCOME

STATUS_CHUNK = 100
"""Run ids per visibility query when looking up the runs' outcomes."""


async def rotation_state(target: Target, repo: str, experiment: str) -> RotationState | None:
    """The experiment's rotation as its workflow holds it; None if it never ran on this repo."""
    handle = target.client.get_workflow_handle(rotation_id(repo, experiment))
    try:
        desc = await handle.describe()
    except RPCError:
        return None
    if desc.status == WorkflowExecutionStatus.RUNNING and target.embedded:
        await ensure_served(target, desc.task_queue, None)  # a query needs a worker
    return await handle.query(RotationWorkflow.state)


async def run_outcomes(target: Target, run_ids: list[str]) -> dict[str, str]:
    """Each run's outcome (success, partial, failed) or Temporal status (running, canceled, …)."""
    outcomes: dict[str, str] = {}
    for i in range(0, len(run_ids), STATUS_CHUNK):
        listed = ", ".join(json.dumps(r) for r in run_ids[i : i + STATUS_CHUNK])
        async for wf in target.client.list_workflows(f"WorkflowId IN ({listed})"):
            status = wf.status.name.lower() if wf.status else "?"
            outcome = wf.typed_search_attributes.get(SA_OUTCOME)
            outcomes[wf.id] = outcome if status == "completed" and outcome else status
    return outcomes


def print_rotation(state: RotationState, outcomes: dict[str, str], output: str | None) -> None:
    rows: list[dict[str, Any]] = [
        {"turn": t.number, "run_id": t.run_id, "variant": t.choice, "at": t.at.isoformat(), "status": outcomes.get(t.run_id, "?")}
        for t in state.turns
    ]
    if output == "json":
        print(json.dumps({"experiment": state.rotation, "repo": state.repo, "turns_taken": state.next_number, "turns": rows}))
        return
    console = make_console()
    console.print(f"experiment {state.rotation}  repo {state.repo}  {counted(state.next_number, 'turn')} taken")
    for row in rows:
        console.print(f"{row['turn']:>5}  {row['run_id']:<32} {row['variant']:<24} {row['status']:<10} {row['at'][:19]}")
