"""The real Claude Code CLI, run by Orchard's workflows against the fake Anthropic server, under a
run's budget: a best-of-n of 6 at the default parallelism runs its first candidate alone to learn
what one costs, starts the next ones while what it spent plus what the running ones are expected to
spend (Claude Code's own cost figures, and the agents' live spend) and the reserve for scoring fits,
and ends within the budget plus one instance's spend with outcome `budget` and a winner."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import orchard
from tests.e2e import test_agent_clis
from tests.e2e.test_agent_clis import claude_conversation, require_cli
from tests.fakes.anthropic_server import FakeAnthropic
from workflows.sdk.budget import Budget
from workflows.sdk.models import RunInput, RunProgress, RunResult, TaskDefaults
from workflows.sdk.visibility import SA_OUTCOME, run_search_attributes

pytestmark = pytest.mark.slow

fake_claude = test_agent_clis.fake_claude


async def test_a_best_of_n_of_6_stops_within_its_budget_plus_one_instances_spend(client, task_queue, repo, fake_claude):
    budget = Budget(max_cost=0.033)  # about 2.5 candidates: one costs about $0.013 at Claude Code's sonnet prices, a scorer $0.002
    run_input = RunInput(prompt="add a greeting", repo=str(repo), base_branch="main", params={"n": 6, "diversity_hints": False},
                         defaults=TaskDefaults(plugin="claude-code", model="claude-sonnet-4-5", runner="local"), budget=budget)  # default max_parallel
    run_id = f"run_budget_{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow("best-of-n", run_input, id=run_id, task_queue=task_queue, result_type=RunResult,
                                         search_attributes=run_search_attributes("best-of-n", str(repo)))
    result = await handle.result()
    progress = await handle.query("progress", result_type=RunProgress)
    by_key = {p.key: p for p in progress.instances}
    candidates = [p for p in progress.instances if p.key.startswith("candidate/") and p.status != "canceled"]
    refused = [p for p in progress.instances if p.status == "canceled"]
    assert refused and all(p.key.startswith("candidate/") and p.error.startswith("not started: ") for p in refused), [p.error for p in refused]
    assert {p.key for p in refused} >= {"candidate/4", "candidate/5", "candidate/6"}
    first = by_key["candidate/1"]
    assert first.started_at and first.duration_seconds
    assert all(p.started_at and p.started_at >= first.started_at for p in candidates)  # the first ran alone: the run learnt what one costs
    assert all((p.started_at - first.started_at).total_seconds() >= first.duration_seconds for p in candidates if p is not first)  # type: ignore[operator]
    spent, most = result.cost_usd, max(p.cost_usd for p in candidates)
    assert most > 0 and spent <= budget.max_cost + most, (spent, most)
    assert not result.cost_estimated  # Claude Code's own figures
    assert result.budget and result.budget.startswith(f"spent ${spent:.2f} of $0.033; the budget stopped {len(refused)} new candidates; selection cost $")
    winner = result.instances[0]
    assert winner.winner and winner.key.startswith("candidate/") and "score" in winner.metrics  # the budget kept room for scoring: a winner
    assert (await handle.describe()).typed_search_attributes.get(SA_OUTCOME) == "budget"


def test_orchard_run_with_max_cost_at_the_default_parallelism_ends_within_it_plus_one_candidate_with_a_winner(embedded, repo, tmp_path):
    require_cli("claude")
    home, env, _, _ = embedded
    with FakeAnthropic(conversations=claude_conversation) as fake:
        env = {**env, **fake.env(), "CLAUDE_CODE_MAX_RETRIES": "1", "HOME": str(tmp_path / "agent-home")}
        said = orchard("run", "add a greeting", "--strategy", "best-of-n", "-S", "n=6", "-S", "diversity_hints=false", "--plugin", "claude-code",
                       "--model", "claude-sonnet-4-5", "--runner", "local", "--max-cost", "0.033", "--output", "json", env=env, cwd=repo, timeout=300)
    result = json.loads(said.stdout.strip().splitlines()[-1])
    assert result["type"] == "result", said.stdout + said.stderr
    instances = {i["key"]: i for i in result["instances"]}
    ran = [i for k, i in instances.items() if i["status"] != "canceled"]
    refused = [k for k, i in instances.items() if i["status"] == "canceled"]
    assert set(refused) >= {"candidate/4", "candidate/5", "candidate/6"} and len(ran) >= 1
    most = max(i["cost_usd"] for i in ran)
    assert result["cost_usd"] <= 0.033 + most, (result["cost_usd"], most)
    assert result["budget"].startswith(f"spent ${result['cost_usd']:.2f} of $0.033; the budget stopped {len(refused)} new candidates; selection cost $")
    assert result["instances"][0]["metadata"]["winner"]  # a winner among the candidates that ran
    shown = orchard("list", "--repo", str(repo), "--output", "json", env=env, cwd=repo)
    assert [json.loads(line)["status"] for line in shown.stdout.splitlines()] == ["budget"], shown.stdout  # outcome budget
