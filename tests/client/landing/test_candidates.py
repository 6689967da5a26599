"""Which candidate a command means, and what diff and a pull request say of it: pure, from a run's result."""

from __future__ import annotations

import pytest

from client.errors import UsageError
from client.landing.candidates import candidates, merit, pick, verification
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
