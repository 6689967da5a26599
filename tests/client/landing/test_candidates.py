"""Which candidate a command means, and what a pull request says of it: pure, from a run's result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from client.errors import UsageError
from client.landing.candidates import candidates, merit, pick, verification
from client.landing.pruning import RunState, plan_prune, run_of
from client.landing.pull_request import compare_url, pr_body, pr_title
from workflows.sdk.models import InstanceResult, LoopSummary, RunResult, Selection
from workflows.sdk.trail import IterationRecord


def result(*instances: InstanceResult) -> RunResult:
    return RunResult(run_id="run_x", strategy="best-of-n", status="success", base_branch="main", base_commit="b" * 40,
                     instances=list(instances), duration_seconds=1.0, cost_usd=0.5, instances_run=len(instances))


def made(key: str, branch: str | None, **fields: object) -> InstanceResult:
    return InstanceResult.model_validate({"success": True, "key": key, "branch_name": branch, "has_changes": branch is not None, **fields})


def test_candidates_are_numbered_by_their_strategy_else_in_order_and_the_winner_is_the_default():
    numbered = result(made("c/2", "orchard/b/2", selection=Selection(candidate=2, winner=True, reason="highest score")),
                      made("c/1", "orchard/b/1", selection=Selection(candidate=1, winner=False)), made("scorer", None))
    assert [(c.number, c.branch) for c in candidates(numbered)] == [(1, "orchard/b/1"), (2, "orchard/b/2")]
    assert pick(numbered, None).number == 2
    assert pick(numbered, "1").branch == pick(numbered, "c/1").branch == pick(numbered, "orchard/b/1").branch == "orchard/b/1"
    plain = result(made("a", "orchard/s/a"), made("b", "orchard/s/b", has_changes=False))
    assert [(c.number, c.result.key) for c in candidates(plain)] == [(1, "a"), (2, "b")]
    assert pick(plain, None).result.key == "a"  # the only one with changes


def test_a_candidate_that_cannot_be_told_is_one_line_naming_the_choices():
    two = result(made("a", "orchard/s/a"), made("b", "orchard/s/b"))
    with pytest.raises(UsageError, match=r"^run run_x has no winner and 2 candidates; pass --candidate K \(one of: 1 orchard/s/a, 2 orchard/s/b\)$"):
        pick(two, None)
    with pytest.raises(UsageError, match=r"^run run_x has no candidate '9'; its candidates: 1 orchard/s/a, 2 orchard/s/b$"):
        pick(two, "9")
    with pytest.raises(UsageError, match=r"^run run_x has no branch to take"):
        pick(result(made("read-only", None)), None)


def test_verification_and_merit_read_what_each_strategy_says():
    assert (verification(made("a", "x", metrics={"verify_passed": False})), merit(made("a", "x", metrics={"score": 7.5}))) == ("failed", "score 7.5")
    last = IterationRecord(iteration=1, action="complete", reason="ok", commit="c" * 40, levels_passed=["L0", "L1"], ci_passed=True)
    loop = made("loop", "x", loop=LoopSummary(mode="hybrid", action="complete", trail=[last]))
    assert (verification(loop), merit(loop)) == ("passed", "passed L0,L1")
    assert (verification(made("a", "x")), merit(made("a", "x"))) == ("-", "-")


def test_a_pull_request_says_the_prompt_the_choice_the_checks_the_cost_and_the_run_s_link():
    winner = made("c/1", "orchard/b/1", selection=Selection(candidate=1, winner=True, reason="highest score (7)"), metrics={"score": 7},
                  cost_usd=0.25, plugin="claude-code", model="sonnet", files_changed=2, insertions=10, deletions=1)
    run = result(winner, made("c/2", "orchard/b/2"))
    chosen = pick(run, None)
    assert pr_title("  \nFix the login bug\nwith details", chosen) == "Fix the login bug"
    assert pr_title("x" * 100, chosen) == "x" * 71 + "…"
    body = pr_body(run, "Fix the login bug\nwith details", chosen, "http://ui/namespaces/default/workflows/run_x")
    for said in ("run `run_x` (best-of-n), candidate 1 of 2", "> Fix the login bug\n> with details", "how it was chosen: the winner: highest score (7)",
                 "score or checks: score 7", "verification: -", "agent: claude-code sonnet", "changes: 2 files, +10/-1",
                 "cost: $0.2500 (the whole run: $0.5000, 2 instances)", "the run in Temporal: http://ui/namespaces/default/workflows/run_x"):
        assert said in body
    assert "Temporal" not in pr_body(run, "p", chosen, None)


NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_prune_takes_only_orchard_branches_of_runs_that_are_over_and_says_why_it_keeps_each_other():
    runs = {"run_a": RunState("run_a", False, NOW - timedelta(days=9), "success", ("refs/orchard/prompts/p1", "refs/orchard/prompts/shared")),
            "run_b": RunState("run_b", True, None, "running", ("refs/orchard/prompts/shared",)),
            "run_c": RunState("run_c", False, NOW - timedelta(hours=1), "failed"),
            "run_d": RunState("run_d", False, NOW - timedelta(days=30), "success")}
    branches = ["orchard/simple/run_a/k1", "orchard/run_a-k0123abcd", "orchard/simple/run_b/k1", "orchard/simple/run_c/k1", "orchard/simple/run_d/k1",
                "orchard/simple/run_e/k1", "feature"]
    plan = plan_prune(branches, runs, {"orchard/simple/run_d/k1"}, NOW, timedelta(days=7), keep_landed=False, landed=set())
    assert plan.branches == {"orchard/simple/run_a/k1": "run_a", "orchard/run_a-k0123abcd": "run_a"}
    assert plan.kept == {"orchard/simple/run_b/k1": "its run is still running",
                         "orchard/simple/run_c/k1": "its run ended less than 7d ago (2026-12-06 11:00 UTC)",
                         "orchard/simple/run_d/k1": "checked out", "orchard/simple/run_e/k1": "no run Temporal knows made it (name its run to prune it)",
                         "feature": "not an Orchard branch"}
    assert plan.runs == ["run_a"] and plan.prompt_refs == ["refs/orchard/prompts/p1"]  # the shared one is a running run's too
    landed = plan_prune(branches, runs, set(), NOW, None, keep_landed=True, landed={"run_a"})
    assert "orchard/simple/run_a/k1" not in landed.branches and landed.kept["orchard/simple/run_a/k1"] == "its run landed (--keep-landed)"
    named = plan_prune(branches, runs, set(), NOW, None, keep_landed=False, landed=set(), named=["run_e"])
    assert named.branches == {"orchard/simple/run_e/k1": "run_e"} and named.runs == ["run_e"] and named.kept == {"feature": "not an Orchard branch"}
    assert run_of("orchard/runbook/build/run_a", ["run_a"]) == "run_a" and run_of("orchard/simple/run_ab/k1", ["run_a"]) is None


def test_without_gh_a_github_remote_gets_the_page_that_opens_the_pull_request():
    for url in ("https://github.com/acme/app.git", "git@github.com:acme/app.git", "ssh://git@github.com/acme/app", "https://github.com/acme/app/"):
        assert compare_url(url, "main", "orchard/simple/run_x/k1") == "https://github.com/acme/app/compare/main...orchard/simple/run_x/k1?expand=1"
    assert compare_url("/srv/git/app.git", "main", "b") is None and compare_url("https://gitlab.com/acme/app.git", "main", "b") is None
