"""Built-in strategies and the seed's examples, end to end on a real Temporal server and real repos:
the branches, commits and edits they leave. Their decisions (which candidate wins, ties, failures,
ctx's keys and max_parallel) are tested against scripted activities in test_best_of_n.py and
tests/workflows/sdk/test_context.py."""

from __future__ import annotations

from tests.conftest import git, orchard_branches, run_strategy


async def test_simple_runs_one_agent_on_one_branch(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "simple", repo)
    assert result.status == "success" and result.instances_run == 1
    (only,) = result.instances
    assert orchard_branches(repo) == [only.branch_name]
    assert only.branch_name.startswith(f"orchard/simple/{result.run_id}/k")
    assert "demo/" in git(repo, "show", "--stat", "--format=", only.branch_name)
    assert result.base_commit == git(repo, "rev-parse", "main")


async def test_best_of_n_scores_every_candidate_and_marks_the_winner(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 3})
    assert result.status == "success"
    assert result.instances_run == 6  # 3 candidates + 3 read-only scorers
    candidates = result.instances
    assert sorted(c.key for c in candidates) == ["candidate/1", "candidate/2", "candidate/3"]
    assert orchard_branches(repo) == sorted(c.branch_name for c in candidates)  # scorers import nothing
    winner = candidates[0]
    assert winner.selection.winner is True and sum(c.selection.winner for c in candidates) == 1
    assert winner.metrics["score"] == max(c.metrics["score"] for c in candidates)
    assert winner.selection.reason.startswith("highest score")
    assert len({git(repo, "rev-parse", c.branch_name) for c in candidates}) == 3  # diverse edits


async def test_seed_single_task_example_runs_unchanged(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "my-simple", repo, params={"greeting": "Hi there"})
    (only,) = result.instances
    assert only.success and only.branch_name.startswith("orchard/my-simple/")
    assert "HELLO.txt with: Hi there" in git(repo, "show", f"{only.branch_name}:{git(repo, 'show', '--name-only', '--format=', only.branch_name)}")


async def test_seed_fan_out_example_runs_unchanged(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "fan-out", repo, params={"n": 3})
    assert len(result.instances) == 3 and all(r.success for r in result.instances)
    assert len(orchard_branches(repo)) == 3


async def test_propose_refine_builds_on_the_proposal_branch(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "propose-refine", repo)
    (refined,) = result.instances
    proposal = refined.metadata["proposal_branch"]
    assert git(repo, "rev-parse", f"{refined.branch_name}^") == git(repo, "rev-parse", proposal)
    assert git(repo, "rev-list", "--count", f"main..{refined.branch_name}") == "2"
