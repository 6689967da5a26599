"""A shared budget's workflow (`--budget NAME`): an instance's ask holds its estimate until it tells
what it spent, so instances asking at once cannot overshoot together; running instances' live
spend counts; while a running instance's cost is unknown others are told to ask again (busy);
`delete` is refused while instances hold reservations unless forced."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment

from activities.agents.base import AgentState
from activities.coordination.budgets import ask_shared_budget
from activities.spend import reporting_spend
from tests.conftest import final_result, start_scripted
from tests.scripted import Script
from workflows.coordination.budgets import SharedBudgetWorkflow
from workflows.sdk.models import RunProgress
from workflows.sdk.shared_budgets import (
    LIVE_SIGNAL,
    SPENT_SIGNAL,
    AskHeadroomInput,
    BudgetLive,
    BudgetSpent,
    DeleteRequest,
    HeadroomRequest,
    SharedBudgetSpec,
    SharedBudgetState,
    shared_budget_id,
)


async def _budget(client: Client, queue: str, usd: float, policy: str = "wait") -> tuple[str, WorkflowHandle]:  # type: ignore[type-arg]
    name = f"team-{uuid.uuid4().hex[:6]}"
    spec = SharedBudgetSpec(name=name, usd=usd, policy=policy)  # type: ignore[arg-type]
    handle = await client.start_workflow(SharedBudgetWorkflow.run, SharedBudgetState(spec=spec), id=shared_budget_id(name), task_queue=queue)
    return name, handle


async def _ask(handle: WorkflowHandle, run: str, key: str, estimate: float = 0.0):  # type: ignore[no-untyped-def,type-arg]
    return await handle.execute_update(SharedBudgetWorkflow.ask, HeadroomRequest(run_id=run, key=key, estimate=estimate))


async def test_concurrent_asks_hold_their_estimates_so_they_cannot_overshoot_together(client, scripted_queue):
    _, handle = await _budget(client, scripted_queue, usd=2.5)
    answers = await asyncio.gather(*(_ask(handle, f"run-{i % 2}", f"gen/{i}", estimate=1.0) for i in range(6)))
    granted = [a for a in answers if a.granted]
    assert len(granted) == 3  # $0, $1 and $2 held when they asked: each under $2.5; the fourth would find $3 held
    assert all(a.busy and not a.granted and a.held == 3.0 for a in answers if not a.granted)  # not past the budget: ask again soon
    state = await handle.query(SharedBudgetWorkflow.state)
    assert len(state.holds) == 3 and state.held == 3.0 and state.spent == 0
    settled = next(k for k in state.holds)
    run_id, key = settled.split("/", 1)
    await handle.signal(SPENT_SIGNAL, BudgetSpent(run_id=run_id, key=key, cost_usd=0.25))  # it spent less than it held
    again = await _ask(handle, "run-9", "gen/9", estimate=1.0)
    assert again.granted  # $0.25 spent + $2 held < $2.5
    state = await handle.query(SharedBudgetWorkflow.state)
    assert state.spent == 0.25 and settled not in state.holds and len(state.holds) == 3
    assert (await _ask(handle, "run-9", "gen/9", estimate=1.0)).granted  # asked again (a retried activity): still granted, held once
    assert len((await handle.query(SharedBudgetWorkflow.state)).holds) == 3


async def test_while_a_running_instances_cost_is_unknown_others_wait_to_learn_it(client, scripted_queue):
    _, handle = await _budget(client, scripted_queue, usd=10)
    assert (await _ask(handle, "r", "gen/1")).granted  # nothing known: the first goes alone
    assert (await _ask(handle, "r", "gen/2")).busy
    await handle.signal(SPENT_SIGNAL, BudgetSpent(run_id="r", key="gen/1", cost_usd=3.0))
    assert (await _ask(handle, "r", "gen/2")).granted  # now an instance is expected to cost $3
    assert (await _ask(handle, "r", "gen/3")).granted  # $3 spent + $3 held < $10
    assert (await _ask(handle, "r", "gen/4")).granted  # $3 spent + $6 held < $10 (the last may pass it by what one costs)
    refused = await _ask(handle, "r", "gen/5")
    assert refused.busy and refused.text == f"budget {refused.name}: spent $3.00 and $9.00 held by running instances of $10 this day"


async def test_live_spend_counts_and_shows_when_it_passes_what_an_instance_holds(client, scripted_queue):
    _, handle = await _budget(client, scripted_queue, usd=5)
    assert (await _ask(handle, "r", "gen/1", estimate=1.0)).granted
    await handle.signal(LIVE_SIGNAL, BudgetLive(run_id="r", key="gen/1", cost_usd=5.0))
    await handle.signal(LIVE_SIGNAL, BudgetLive(run_id="r", key="nobody/1", cost_usd=9.0))  # holds nothing: ignored
    state = await handle.query(SharedBudgetWorkflow.state)
    assert state.running == 5.0 and state.held == 5.0
    assert (await _ask(handle, "r", "gen/2", estimate=1.0)).busy  # gen/1's live $5 is more than the $1 it held: it holds $5, all of it


async def test_delete_is_refused_while_instances_hold_reservations_unless_forced(client, scripted_queue):
    name, handle = await _budget(client, scripted_queue, usd=5)
    assert (await _ask(handle, "run-a", "gen/1", estimate=1.0)).granted
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(SharedBudgetWorkflow.delete, DeleteRequest())
    assert refused.value.cause.message == (f"budget {name!r}: 1 instance of 1 run hold reservations on it; "
                                           "wait for them to end, or delete it anyway with --force")
    await handle.execute_update(SharedBudgetWorkflow.delete, DeleteRequest(force=True))
    await handle.result()
    answer = await ActivityEnvironment(client=client).run(ask_shared_budget, AskHeadroomInput(name=name, request=HeadroomRequest(run_id="r", key="k")))
    assert not answer.found  # a run naming it now is told there is none


async def test_a_runs_instances_hold_the_shared_budget_so_a_fan_out_stops_within_it_plus_one(client, scripted_queue):
    name, handle = await _budget(client, scripted_queue, usd=2.5, policy="fail")
    script = Script(usage={"gen/.*": (10, 10, 1.0)}, delays={"gen/.*": 0.1})
    run = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 5}, max_parallel=8, run={"budget": {"shared": name}})
    result = await final_result(run)
    assert len(script.started_keys()) == 3 and result.cost_usd == 3.0  # gen/1 alone (learnt: $1), then two more held $2 of $2.5
    progress = await run.query("progress", result_type=RunProgress)
    refused = [p for p in progress.instances if p.status == "failed"]
    assert len(refused) == 2 and all(p.error == f"not started: budget {name}: spent $3.00 of $2.5 this day" for p in refused), [p.error for p in refused]
    state = await handle.query(SharedBudgetWorkflow.state)
    assert state.spent == 3.0 and not state.holds and state.largest == 1.0


async def test_a_running_instances_activity_tells_its_shared_budget_its_live_spend(client, scripted_queue):
    name, handle = await _budget(client, scripted_queue, usd=5)
    assert (await _ask(handle, "run-x", "gen/1", estimate=0.1)).granted
    state = AgentState()

    async def spend() -> None:
        async with reporting_spend("run-x", "gen/1", state, every=0.1, look=0.02, shared=name):  # run-x is no workflow: its own report is lost
            state.cost_usd = 0.75
            await asyncio.sleep(0.3)

    await ActivityEnvironment(client=client).run(spend)
    held = (await handle.query(SharedBudgetWorkflow.state)).holds["run-x/gen/1"]
    assert held.live == 0.75 and held.amount == 0.75


async def test_a_runs_batched_instances_ask_its_shared_budget_too(client, scripted_queue):
    """Past the run's first `instances_per_history`, instances run in batch child workflows: they ask
    the shared budget for headroom as the run's own do, so the fan-out still stops within it."""
    name, handle = await _budget(client, scripted_queue, usd=4.5, policy="fail")
    script = Script(usage={"gen/.*": (10, 10, 1.0)}, delays={"gen/.*": 0.05})
    run = await start_scripted(client, scripted_queue, "fan-out", script, params={"n": 8}, max_parallel=2,
                               run={"budget": {"shared": name}, "instances_per_history": 2})
    result = await final_result(run)
    assert len(script.started_keys()) == 5 and result.cost_usd == 5.0  # 2 own, then the batch's: held $1 each while $4.5 allowed it
    state = await handle.query(SharedBudgetWorkflow.state)
    assert state.spent == 5.0 and not state.holds
    progress = await run.query("progress", result_type=RunProgress)
    assert sorted(p.key for p in progress.instances if p.status == "failed") == sorted({f"gen/{i}" for i in range(1, 9)} - set(script.started_keys()))
