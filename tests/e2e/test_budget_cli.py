"""The real Claude Code CLI, run by Orchard's workflows against the fake Anthropic server, under a
run's budget: a best-of-n of 6 stops starting instances once what it spent (Claude Code's own
cost figures, and the running agent's live spend) reaches the budget, and ends within the budget
plus one instance's spend with outcome `budget`."""

from __future__ import annotations

import uuid

import pytest
from temporalio.client import WorkflowFailureError

from tests.e2e import test_agent_clis
from workflows.sdk.budget import Budget
from workflows.sdk.models import RunInput, RunProgress, RunResult, TaskDefaults
from workflows.sdk.visibility import SA_OUTCOME, run_search_attributes

pytestmark = pytest.mark.slow

fake_claude = test_agent_clis.fake_claude


async def test_a_best_of_n_of_6_stops_within_its_budget_plus_one_instances_spend(client, task_queue, repo, fake_claude):
    budget = Budget(max_cost=0.03)  # a candidate costs about $0.013 at Claude Code's sonnet prices, a scorer $0.002
    run_input = RunInput(prompt="add a greeting", repo=str(repo), base_branch="main", params={"n": 6, "diversity_hints": False},
                         defaults=TaskDefaults(plugin="claude-code", model="claude-sonnet-4-5", runner="local"), max_parallel=1, budget=budget)
    run_id = f"run_budget_{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow("best-of-n", run_input, id=run_id, task_queue=task_queue, result_type=RunResult,
                                         search_attributes=run_search_attributes("best-of-n", str(repo)))
    with pytest.raises(WorkflowFailureError) as failed:  # no scorer could start: no candidate could win
        await handle.result()
    assert str(failed.value.cause.message).startswith("the run's budget is reached (spent $")
    progress = await handle.query("progress", result_type=RunProgress)
    ran = [p for p in progress.instances if p.status != "canceled"]
    refused = [p for p in progress.instances if p.status == "canceled"]
    assert {p.key for p in refused} >= {"candidate/4", "candidate/5", "candidate/6"}
    assert all(p.error.startswith("not started: the run's budget is reached (spent $") for p in refused)
    spent, most = sum(p.cost_usd for p in ran), max(p.cost_usd for p in ran)
    assert most > 0 and budget.max_cost <= spent <= budget.max_cost + most, (spent, most)
    assert not any(p.cost_estimated for p in ran)  # Claude Code's own figures
    assert (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "budget"
