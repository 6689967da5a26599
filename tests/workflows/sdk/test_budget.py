"""A run's budget (--max-cost, --max-tokens, --budget-policy): no instance starts once what the run
spent plus its running instances' live spend reaches it; `cancel` stops the running ones too; the
run ends with outcome `budget` saying what it spent (scripted activities)."""

from __future__ import annotations

import asyncio

from temporalio.testing import ActivityEnvironment

from activities.agents.base import AgentState
from activities.spend import reporting_spend
from tests.conftest import final_result, run_scripted, start_scripted
from tests.scripted import Script, until
from tests.workflows.runbooks.test_pipeline import bundle
from workflows.sdk.budget import SPEND_SIGNAL, Budget, BudgetGuard, InstanceSpend, spent_text
from workflows.sdk.models import RunProgress, RunTotals
from workflows.sdk.visibility import SA_OUTCOME


async def _progress(handle) -> RunProgress:  # type: ignore[no-untyped-def]
    return await handle.query("progress", result_type=RunProgress)


async def _outcome(handle) -> str:  # type: ignore[no-untyped-def]
    return (await handle.describe()).typed_search_attributes.get(SA_OUTCOME)


async def test_a_run_starts_no_instance_once_its_spend_reaches_the_budget(client, scripted_queue):
    script = Script(usage={"gen/.*": (1000, 100, 1.0)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 6}, max_parallel=1,
                                  run={"budget": Budget(max_cost=2.5)})
    result = await final_result(handle)
    assert script.started_keys() == ["gen/1", "gen/2", "gen/3"]  # the third started at $2 spent, under $2.5
    refused = [p for p in (await _progress(handle)).instances if p.status == "canceled"]
    assert [p.key for p in refused] == ["gen/4", "gen/5", "gen/6"]
    assert refused[0].error == "not started: the run's budget is reached (spent $3.00 of $2.5)"
    assert result.budget == "spent $3.00 of $2.5" and result.cost_usd == 3.0
    assert await _outcome(handle) == "budget"


async def test_a_token_budget_counts_input_and_output_tokens(client, scripted_queue):
    script = Script(usage={"gen/.*": (1000, 100, 0.0)})
    result = await run_scripted(client, scripted_queue, "fan-out", script, params={"n": 4}, max_parallel=1, run={"budget": Budget(max_tokens=2000)})
    assert script.started_keys() == ["gen/1", "gen/2"]
    assert result.budget == "used 2,200 of 2,000 tokens"


async def test_the_cancel_policy_stops_running_instances_when_live_spend_reaches_the_budget(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"gen/.*": hold}, usage={"gen/.*": (10, 10, 0.5)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 3}, max_parallel=2,
                                  run={"budget": Budget(max_cost=2.0, policy="cancel")})
    await until(lambda: len(script.calls) == 2)
    await handle.signal(SPEND_SIGNAL, InstanceSpend(key="gen/1", cost_usd=2.25, tokens=900, cost_estimated=True))
    result = await final_result(handle)
    hold.set()
    by_key = {r.key: r for r in result.instances}
    assert by_key["gen/1"].status == "canceled" and by_key["gen/1"].error == "stopped: the run's budget is reached (spent $2.25 of $2 (estimated))"
    assert by_key["gen/1"].cost_usd == 2.25 and by_key["gen/1"].cost_estimated  # what it spent before it was stopped counts
    assert by_key["gen/2"].status == "canceled"  # every running instance is stopped
    assert by_key["gen/3"].error_type == "budget" and script.started_keys() == ["gen/1", "gen/2"]
    assert await _outcome(handle) == "budget"


async def test_the_finish_policy_counts_live_spend_and_lets_running_instances_end(client, scripted_queue):
    second, third = asyncio.Event(), asyncio.Event()
    script = Script(holds={"gen/2": second, "gen/3": third}, usage={"gen/.*": (10, 10, 0.3)})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 4}, max_parallel=2, run={"budget": Budget(max_cost=1.0)})
    await until(lambda: len(script.calls) == 3)  # gen/1 ran alone ($0.30, learnt); gen/2 and gen/3 then started: $0.30 + 2 x $0.30 < $1
    await handle.signal(SPEND_SIGNAL, InstanceSpend(key="gen/2", cost_usd=0.6))
    await until(lambda: _live(handle))
    third.set()  # $0.60 spent + gen/2's $0.60 live: gen/4 does not start
    await until(lambda: _status(handle, "gen/4", "canceled"))
    second.set()
    result = await final_result(handle)
    assert [r.key for r in result.instances] == ["gen/1", "gen/2", "gen/3"] and all(r.success for r in result.instances)  # the running one ended
    assert sorted(script.started_keys()) == ["gen/1", "gen/2", "gen/3"] and result.budget == "spent $0.90 of $1"


async def _live(handle) -> bool:  # type: ignore[no-untyped-def]
    """The run took the live report (a signal is handled by the next workflow task)."""
    return not (await handle.describe()).raw_description.HasField("pending_workflow_task")


async def _status(handle, key: str, status: str) -> bool:  # type: ignore[no-untyped-def]
    return any(p.key == key and p.status == status for p in (await _progress(handle)).instances)


async def test_a_loop_stops_at_the_runs_budget(client, scripted_queue):
    script = Script(steps=[{"cost": 0.1}])
    handle = await start_scripted(client, scripted_queue, "loop", script, params={"mode": "fixed", "max_iterations": 10},
                                  run={"budget": Budget(max_cost=0.25)})
    result = await final_result(handle)
    (loop,) = result.instances
    assert loop.error == "spent $0.30 of $0.25 in 3 iterations" and len(loop.loop.trail) == 3
    assert await _outcome(handle) == "budget"


def test_a_child_counts_what_its_parent_spent_and_the_figures_say_when_they_are_estimated():
    child = BudgetGuard(Budget(max_cost=5, max_tokens=1000).for_child(4.0, 200))
    assert child.figures(RunTotals(cost_usd=0.5, input_tokens=10, output_tokens=10)) == (4.5, 220, False)
    assert child.reached(RunTotals(cost_usd=1.0)) and not child.reached(RunTotals(cost_usd=0.9))
    assert Budget(max_cost=2).tighter(1.0).max_cost == 1.0 and Budget(max_cost=1).tighter(2.0).max_cost == 1
    assert spent_text(4.91, 0, True, Budget(max_cost=5)) == "spent $4.91 of $5 (estimated)"
    guard = BudgetGuard(Budget(max_cost=1))
    guard.take(InstanceSpend(key="a", cost_usd=0.6, cost_estimated=True))
    assert guard.reached(RunTotals(cost_usd=0.4)) and guard.figures(RunTotals(cost_usd=0.4)) == (1.0, 0, True)
    guard.settled("a")
    assert not guard.reached(RunTotals(cost_usd=0.4))
    assert BudgetGuard(Budget(policy="cancel")).budget is None  # a policy alone limits nothing


async def test_a_pipelines_orchard_strategy_stops_at_the_runs_budget(client, scripted_queue, tmp_path):
    runbooks = bundle(tmp_path, '''
        [pipeline.build]
        inputs = []
        [[pipeline.build.phase]]
        name = "candidates"
        run = { orchard = "best-of-n", prompt = "write it", n = 4 }
    ''', "build")
    script = Script(usage={".*": (10, 10, 1.0)})
    handle = await start_scripted(client, scripted_queue, "runbook", script, prompt="ops.build", max_parallel=1,
                                  params={"pipeline": "ops.pipeline.build", "runbooks": runbooks, "inputs": {}}, run={"budget": Budget(max_cost=1.5)})
    result = await final_result(handle)
    # $1 spent by the first candidate and a scorer ($1 more, kept back for it) would pass $1.5: no second candidate; the first is scored and wins
    assert script.started_keys() == ["candidate/1", "score/1/1"]
    (pipeline,) = result.instances
    assert pipeline.success, pipeline.error
    assert result.budget == "spent $2.00 of $1.5" and await _outcome(handle) == "budget"


async def test_a_running_instance_tells_its_run_its_live_spend_when_it_changes(client, scripted_queue):
    hold = asyncio.Event()
    script = Script(holds={"gen/1": hold})
    handle = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 1}, run={"budget": Budget(max_cost=100)})
    await until(lambda: script.calls)
    assert script.calls[0].report_spend  # the run has a budget: its instances tell it their spend
    state = AgentState()

    async def spend() -> None:
        async with reporting_spend(handle.id, "gen/1", state, every=0.1, look=0.02):
            for cost in (0.0, 0.25, 0.25, 0.5):
                state.cost_usd, state.input_tokens = cost, int(cost * 1000)
                await asyncio.sleep(0.15)

    await ActivityEnvironment(client=client).run(spend)
    hold.set()
    await final_result(handle)
    told = [InstanceSpend.model_validate_json(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)
            async for e in handle.fetch_history_events() if e.HasField("workflow_execution_signaled_event_attributes")]
    assert [(t.key, t.cost_usd, t.tokens) for t in told] == [("gen/1", 0.25, 250), ("gen/1", 0.5, 500)]  # each change once, nothing unchanged
