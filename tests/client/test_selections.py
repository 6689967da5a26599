"""How best-of-n's selection shows at the end of a run and in `orchard show`: which agent each
candidate was, the candidates × tests matrix, the tournament's comparisons, and each method's pick."""

from __future__ import annotations

import io

from rich.console import Console

from client.render import print_outcome
from client.snapshots import Outcome
from workflows.sdk.models import InstanceResult, MethodPick, RunResult, Selection, VariantSummary
from workflows.sdk.trail import ComparisonRecord, TestRecord


def printed(result: RunResult) -> list[list[str]]:
    out = io.StringIO()
    print_outcome(Console(file=out, width=220, color_system=None, markup=False, soft_wrap=True), Outcome(run_id="run_5", status="success", result=result), None)
    return [line.replace("│", " ").split() for line in out.getvalue().splitlines()]


def candidate(n: int, agent: str, passed: int, winner: bool = False) -> InstanceResult:
    return InstanceResult(success=True, key=f"candidate/{n}", branch_name=f"orchard/best-of-n/run_5/k{n}", has_changes=True,
                          metrics={"tests_passed": passed, "tests_counted": 2}, variant=VariantSummary(id=agent, role=f"candidate {n}"),
                          selection=Selection(candidate=n, winner=winner, reason="passed 2 of 2 counted tests" if winner else None))


def test_the_end_of_a_run_shows_each_candidates_agent_the_tests_matrix_the_comparisons_and_the_picks():
    trail = [
        TestRecord(test="orchard_tests/writer_1/test_g.py::test_hello", writer=1, base=False, passed=[1, 2], failed=[]),
        TestRecord(test="orchard_tests/writer_1/test_g.py::test_name", writer=1, base=False, passed=[2], failed=[1]),
        TestRecord(test="orchard_tests/writer_1/test_g.py::test_none", writer=1, base=True, passed=[1, 2], failed=[], counted=False,
                   note="passes on the base commit: it checks nothing"),
        ComparisonRecord(a=1, b=2, first=2, second=2, winner=2, rationale="1 first: B: handles names | 2 first: A: handles names"),
    ]
    picks = [MethodPick(method="tests", candidate=2, reason="passed 2 of 2 counted tests", cost_usd=0.5),
             MethodPick(method="tournament", candidate=2, reason="won the round robin", input_tokens=10)]
    result = RunResult(run_id="run_5", strategy="best-of-n", status="success", base_branch="main", base_commit="b" * 40, duration_seconds=1.0,
                       instances=[candidate(2, "codex", 2, winner=True), candidate(1, "claude-opus", 1)], trail=trail, selections=picks)
    rows = printed(result)
    table = {r[1] if r[0] == "★" else r[0]: r for r in rows if r and "candidate/" in " ".join(r[:2])}
    assert table["candidate/2"][:4] == ["★", "candidate/2", "codex", "success"] and "2/2" in table["candidate/2"]
    assert table["candidate/1"][:3] == ["candidate/1", "claude-opus", "success"] and "1/2" in table["candidate/1"]
    matrix = {r[0].split("::")[1]: r[1:] for r in rows if r and r[0].startswith("orchard_tests/")}
    assert matrix["test_hello"][:4] == ["✗", "✓", "✓", "yes"] and matrix["test_name"][:4] == ["✗", "✗", "✓", "yes"]
    assert matrix["test_none"][:4] == ["✓", "✓", "✓", "no"] and "checks nothing" in " ".join(matrix["test_none"])
    assert ["counted", "tests", "passed", "by", "candidate:", "1:", "1,", "2:", "2"] in rows
    (comparison,) = [r for r in rows if r[:4] == ["1", "1", "vs", "2"]]
    assert comparison[4:7] == ["2", "2", "2"] and "handles" in comparison
    assert ["tests", "2", "-", "$0.5000", "passed", "2", "of", "2", "counted", "tests"] in rows
    assert ["tournament", "2", "10", "-", "won", "the", "round", "robin"] in rows
