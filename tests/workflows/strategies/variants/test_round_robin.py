"""`round-robin`'s decisions against scripted instances (the rotation workflow and its
`take_turn` activity are the real ones): the turn order across runs, concurrent runs, and an idle
rotation. The rotation continuing as new under real runs is in test_variant_strategies.py; one
surviving a killed worker in tests/e2e/test_strategies_cli.py."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import WorkflowExecutionStatus

from orchard_common.connection import open_runs_query
from tests.conftest import SCRIPTED_REPO, listed, run_scripted
from tests.scripted import Script
from workflows.coordination.rotation import RotationWorkflow, rotation_id
from workflows.coordination.states import TurnRequest

VARIANTS = [{"id": "a", "prompt_suffix": "Variant A."}, {"id": "b", "prompt_suffix": "Variant B."}, {"id": "c", "prompt_suffix": "Variant C."}]


def experiment() -> dict:
    """Parameters for a new experiment: rotations are per repository and name, and outlive a test."""
    return {"variants": VARIANTS, "experiment": f"exp-{uuid.uuid4().hex[:8]}"}


async def test_round_robin_hands_each_run_the_next_variant_in_turn(client, scripted_queue):
    params = experiment()
    scripts = [Script() for _ in range(4)]
    runs = [await run_scripted(client, scripted_queue, "round-robin", s, params=params) for s in scripts]
    assert [r.instances[0].variant.id for r in runs] == ["a", "b", "c", "a"]
    assert [r.instances[0].variant.turn for r in runs] == [0, 1, 2, 3]
    assert [r.instances[0].variant.role for r in runs] == ["turn 0", "turn 1", "turn 2", "turn 3"]
    assert all(r.instances[0].variant.experiment == params["experiment"] for r in runs)
    # Each run ran one instance: its turn's variant, with that variant's prompt.
    assert [s.started_keys() for s in scripts] == [["variant/a"], ["variant/b"], ["variant/c"], ["variant/a"]]
    assert scripts[1].calls[0].task.prompt == "add a greeting\n\nVariant B."

    ledger = client.get_workflow_handle(rotation_id(SCRIPTED_REPO, params["experiment"]))
    state = await ledger.query(RotationWorkflow.state)
    assert [(t.number, t.run_id, t.choice) for t in state.turns] == [(n, r.run_id, v) for n, (r, v) in enumerate(zip(runs, "abca", strict=True))]
    # Asking again for a run that already had its turn returns that turn.
    again = await ledger.execute_update(RotationWorkflow.take_turn, TurnRequest(run_id=runs[1].run_id, options=["x"]))
    assert (again.number, again.choice) == (1, "b")


async def test_concurrent_round_robin_runs_never_share_a_turn(client, scripted_queue):
    params = experiment()
    runs = await asyncio.gather(*(run_scripted(client, scripted_queue, "round-robin", Script(), params=params) for _ in range(3)))
    assert sorted(r.instances[0].variant.turn for r in runs) == [0, 1, 2]
    assert sorted(r.instances[0].variant.id for r in runs) == ["a", "b", "c"]


async def test_an_open_rotation_keeps_no_worker_alive(client, scripted_queue):
    params = experiment()
    await run_scripted(client, scripted_queue, "round-robin", Script(), params=params)
    rotation = rotation_id(SCRIPTED_REPO, params["experiment"])
    assert (await client.get_workflow_handle(rotation).describe()).status == WorkflowExecutionStatus.RUNNING  # it stays open between runs
    # Listed as running on the run's queue (visibility lags the server a moment), and not among the
    # runs that keep a worker alive (the count of the whole shared queue would take other tests' runs).
    mine = f'WorkflowId="{rotation}"'
    assert await listed(client, f'{mine} AND TaskQueue="{scripted_queue}" AND ExecutionStatus="Running"', lambda found: len(found) == 1)
    assert (await client.count_workflows(f"{open_runs_query(scripted_queue)} AND {mine}")).count == 0
