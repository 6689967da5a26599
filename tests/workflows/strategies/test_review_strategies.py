"""Pitaya's review strategies end to end: iterative, bug-finding and doc-review with scripted
demo agents on a real Temporal server and real repositories: the branches and commits they leave.
Their decisions are tested against scripted activities in test_iterative.py, test_bug_finding.py
and test_doc_review.py."""

from __future__ import annotations

import json

from tests.conftest import DEMO_AGENT, git, orchard_branches, run_strategy
from workflows.sdk.models import RunResult


def by_key(cases: dict[str, str], default: str = "") -> str:
    """An agent command giving each instance key pattern (shell glob) its own demo-agent knobs."""
    arms = " ".join(f"{pattern}) {knobs} {DEMO_AGENT};;" for pattern, knobs in cases.items())
    return f'case "$ORCHARD_KEY" in {arms} *) {default} {DEMO_AGENT};; esac'


# iterative ------------------------------------------------------------------------------------


async def test_iterative_builds_round_two_on_round_ones_branch(client, task_queue, repo):
    agent = by_key({"round/1/review": "DEMO_AGENT_ANSWER=$'1. The greeting has no test.\\n2. The README does not\\n   mention it.'"})
    result = await run_strategy(client, task_queue, "iterative", repo, agent=agent)
    assert result.status == "success" and result.instances_run == 4  # two rounds of work + review
    (final,) = result.instances
    assert final.key == "round/2/work"
    trail = final.metadata["review_trail"]
    assert trail[0]["findings"] == ["The greeting has no test.", "The README does not mention it."]
    assert final.selection.reason == "the reviewer had no findings on round 2"  # the demo agent's "No findings."
    # Round 2 built on round 1's branch and was told the findings; reviewers imported nothing.
    assert orchard_branches(repo) == sorted([trail[0]["branch"], final.branch_name])
    assert git(repo, "rev-parse", f"{final.branch_name}^") == git(repo, "rev-parse", trail[0]["branch"]) == trail[0]["commit"]
    added = git(repo, "diff", "--name-only", f"{trail[0]['branch']}..{final.branch_name}")
    assert "1. The greeting has no test." in git(repo, "show", f"{final.branch_name}:{added}")


# bug-finding ----------------------------------------------------------------------------------

BUG = {"found": True, "title": "Greeting crashes on an empty name", "severity": "High", "root_cause": "no check for an empty name",
       "reproduction": "python app.py --name=", "files": "app.py"}


async def test_bug_finding_confirms_a_bug_with_a_committed_report(client, task_queue, repo):
    agent = by_key({"discover/*": f"DEMO_AGENT_ANSWER='Found one: {json.dumps(BUG)}'"})
    result = await run_strategy(client, task_queue, "bug-finding", repo, params={"target_area": "app.py"}, agent=agent)
    assert result.status == "success" and result.instances_run == 2
    (validated,) = result.instances
    assert validated.key == "validate" and validated.metadata["confirmed"] is True
    assert validated.selection.reason == "high bug confirmed: Greeting crashes on an empty name"
    assert orchard_branches(repo) == [validated.branch_name]  # the discovery agent imported nothing
    assert git(repo, "rev-parse", f"{validated.branch_name}^") == git(repo, "rev-parse", "main")  # from the base
    report = git(repo, "show", f"{validated.branch_name}:BUG_REPORT.md")
    assert "Title: Greeting crashes on an empty name" in report and "Reproduction: python app.py --name=" in report


# doc-review -----------------------------------------------------------------------------------

PAGES = [{"title": "Read me", "path": "README.md"}, {"title": "App", "path": "app.py", "slug": "app"}]


async def test_doc_review_composes_one_branch_holding_the_validated_reports(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "doc-review", repo, params={"pages_file": PAGES, "reviewers_per_page": 2})
    assert result.status == "success" and result.instances_run == 4 + 4 + 2  # reviewers, validators, gather, composer
    final, *reports = result.instances
    assert final.key == "compose"
    raw = [f"reports/doc-review/raw/REPORT_{slug}__r{n}.md" for slug in ("read-me", "app") for n in (1, 2)]
    assert sorted(final.metadata["reports"]) == sorted(raw)
    # One branch holds every validated report (reviewer's text refined by its validator) and the final report, and nothing else.
    files = git(repo, "ls-tree", "-r", "--name-only", final.branch_name).split()
    assert sorted(f for f in files if f.startswith("reports/")) == sorted([*raw, "reports/doc-review/REPORT.md"])
    for path in raw:
        assert git(repo, "show", f"{final.branch_name}:{path}").count("# Demo change") == 2
    composed = git(repo, "show", f"{final.branch_name}:reports/doc-review/REPORT.md")
    assert all(path in composed for path in raw)
    # gather and composer: two commits on the base.
    assert git(repo, "rev-list", "--count", f"main..{final.branch_name}") == "2"
    assert git(repo, "log", "-1", "--format=%s", f"{final.branch_name}^") == "doc-review: 4 validated reports"
    # Each validator started from its reviewer's branch.
    validator = next(r for r in reports if r.key == "validate/app/1")
    assert git(repo, "log", "-1", "--format=%s", f"{validator.branch_name}^").startswith("demo: add a greeting")
    assert git(repo, "rev-list", "--count", f"main..{validator.branch_name}") == "2"


# composition ----------------------------------------------------------------------------------


async def test_a_strategy_composes_others_as_child_workflows(client, task_queue, repo):
    result = await run_strategy(client, task_queue, "composed", repo)
    (refined,) = result.instances
    assert [(c.key, c.strategy, c.status) for c in result.children] == [
        ("try/1", "best-of-n", "success"), ("try/2", "best-of-n", "success"), ("refine", "iterative", "success")]
    assert result.instances_run == 4 + 4 + 2  # each try's candidates and scorers, one round of work and review
    # The same strategy twice: each try has its own run id, so its own branches.
    tries = {c.run_id for c in result.children if c.key.startswith("try/")}
    candidates = [b for b in orchard_branches(repo) if b != refined.branch_name]
    assert len(candidates) == 4 and {b.split("/")[2] for b in candidates} == tries
    assert refined.branch_name.startswith(f"orchard/iterative/{result.run_id}.iterative.k")
    # The refinement built on the better winner's branch: each try's winner, the higher score (the first on a tie).
    winners = [(await client.get_workflow_handle(c.run_id, result_type=RunResult).result()).instances[0] for c in result.children if c.key.startswith("try/")]
    best = max(winners, key=lambda w: w.metrics.get("score", 0))
    assert all(w.selection.winner for w in winners) and winners[0].metrics["score"] != winners[1].metrics["score"]
    assert git(repo, "rev-parse", f"{refined.branch_name}^") == best.commit == git(repo, "rev-parse", best.branch_name)
