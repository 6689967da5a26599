"""A run's budget holds for the instances it runs in batches (past its first
`instances_per_history`): a batch admits each as the run does, the run starts no batch once its
budget is reached, and the batches' histories replay (scripted activities)."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from client.commands.replay import replay
from orchard_common.sandbox import sandbox_runner
from tests.conftest import ROOT, final_result, start_scripted
from tests.scripted import Script, until
from workflows.sdk.batches import BATCH_WORKFLOW, InstanceBatchWorkflow
from workflows.sdk.budget import Budget
from workflows.sdk.models import RunProgress
from workflows.sdk.visibility import SA_OUTCOME

FANOUT = str(ROOT / "examples" / "fanout_two.py")


async def _batches(client, handle: WorkflowHandle) -> list[str]:  # type: ignore[no-untyped-def,type-arg]
    return sorted([wf.id async for wf in client.list_workflows(f'WorkflowType = "{BATCH_WORKFLOW}" AND WorkflowId STARTS_WITH "{handle.id}."')])


async def _replays(client, workflow_id: str) -> bool:  # type: ignore[no-untyped-def]
    replayer = Replayer(workflows=[InstanceBatchWorkflow], data_converter=pydantic_data_converter, workflow_runner=sandbox_runner())
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure is None


async def test_a_fan_out_in_batches_stops_at_the_runs_budget(client, scripted_queue):
    script = Script(usage={"gen/.*": (1000, 100, 1.0)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 12}, max_parallel=3,
                                  run={"instances_per_history": 3, "budget": Budget(max_cost=5.0)})
    result = await final_result(handle)
    # 3 own ($3), then the first batch starts 2 more ($3 + $2 expected reaches $5) and refuses the third
    assert sorted(script.started_keys()) == sorted(f"gen/{i}" for i in range(1, 6))
    assert result.cost_usd == 5.0 and result.cost_usd <= 5.0 + 1.0  # within the budget plus one instance's cost
    assert result.budget == "spent $5.00 of $5" and (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "budget"
    progress = await handle.query("progress", result_type=RunProgress)
    by_key = {p.key: p for p in progress.instances}
    assert by_key["gen/6"].error == "not started: would pass the run's budget (spent $3.00 of $5; $2.00 more expected from 2 running)"
    assert by_key["gen/7"].error == "not started: the run's budget is reached (spent $5.00 of $5)"
    assert sorted(p.key for p in progress.instances if p.status == "canceled") == sorted(f"gen/{i}" for i in range(6, 13))
    assert await _batches(client, handle) == [f"{handle.id}.instances.1"]  # no batch asked for once the budget was reached
    assert await _replays(client, f"{handle.id}.instances.1")
    assert "deterministic" in await replay((await handle.fetch_history()).to_json(), handle.id, FANOUT)


async def test_the_cancel_policy_stops_a_batchs_running_instances(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(usage={"gen/3": (100, 10, 2.0), "gen/.*": (100, 10, 1.0)}, holds={"gen/4": hold})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 6}, max_parallel=2,
                                  run={"instances_per_history": 2, "budget": Budget(max_cost=3.5, policy="cancel")})
    try:
        await until(lambda: "gen/4" in script.started_keys())
        result = await final_result(handle)
    finally:
        hold.set()
    by_key = {p.key: p for p in (await handle.query("progress", result_type=RunProgress)).instances}
    assert by_key["gen/4"].status == "canceled" and by_key["gen/4"].error == "stopped: the run's budget is reached (spent $4.00 of $3.5)"
    assert [by_key[k].status for k in ("gen/5", "gen/6")] == ["canceled", "canceled"] and "gen/5" not in script.started_keys()
    assert result.budget == "spent $4.00 of $3.5 (estimated)"  # what the stopped one spent is not known: the batch gets no live spend
    assert await _replays(client, f"{handle.id}.instances.1")


async def test_a_batch_without_a_budget_runs_every_instance(client, scripted_queue):
    script = Script(usage={"gen/.*": (1000, 100, 1.0)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 4}, max_parallel=4, run={"instances_per_history": 2})
    result = await final_result(handle)
    assert sorted(script.started_keys()) == [f"gen/{i}" for i in range(1, 5)] and result.budget is None and result.cost_usd == 4.0
    assert await _batches(client, handle) == [f"{handle.id}.instances.1"] and await _replays(client, f"{handle.id}.instances.1")
