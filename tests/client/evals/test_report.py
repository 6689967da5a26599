"""The evaluation's figures: pass@1, pass@n, selected and cost per task and method, and the totals
and rates across tasks, from a run's result and the hidden checks' outcomes."""

from __future__ import annotations

import io
import json

from rich.console import Console

from client.evals.report import CandidateCheck, MethodTotal, build_report, failed_task, task_report
from client.evals.table import print_report
from workflows.sdk.models import MethodPick, RunResult

METHODS = ["score", "tests", "tournament"]


def result(*picks: MethodPick) -> RunResult:
    return RunResult(run_id="run_1", strategy="best-of-n", status="success", base_branch="main", base_commit="0" * 40, instances=[],
                     duration_seconds=1.0, selections=list(picks))


def checks(*passed: bool, cost: float = 0.25) -> list[CandidateCheck]:
    return [CandidateCheck(candidate=i, passed=p, cost_usd=cost) for i, p in enumerate(passed, 1)]


def test_a_task_figures_come_from_the_checks_and_each_method_pick():
    picks = (MethodPick(method="score", candidate=2, reason="highest score", cost_usd=0.1),
             MethodPick(method="tests", candidate=3, reason="most tests", cost_usd=0.3),
             MethodPick(method="tournament", candidate=None, reason="no candidate left", cost_usd=0.05, cost_estimated=True))
    t = task_report("01-x", "x", METHODS, result(*picks), checks(False, False, True))
    assert (t.pass_at_1, t.pass_at_n, t.candidates_cost_usd) == (False, True, 0.75)
    rows = {r.method: r for r in t.methods}
    assert (rows["score"].picked, rows["score"].selected, rows["score"].cost_usd) == (2, False, 0.85)
    assert (rows["tests"].picked, rows["tests"].selected, rows["tests"].cost_usd) == (3, True, 1.05)
    assert (rows["tournament"].picked, rows["tournament"].selected, rows["tournament"].cost_estimated) == (None, False, True)
    assert rows["tournament"].cost_usd == 0.8 and rows["tournament"].selection_cost_usd == 0.05


def test_pass_at_1_is_candidate_1_whatever_the_order_of_the_checks():
    shuffled = [CandidateCheck(candidate=2, passed=False), CandidateCheck(candidate=1, passed=True)]
    t = task_report("t", "t", ["score"], result(MethodPick(method="score", candidate=2, reason="")), shuffled)
    assert (t.pass_at_1, t.pass_at_n, t.methods[0].selected) == (True, True, False)
    assert [c.candidate for c in t.candidates] == [1, 2]


def test_a_method_the_result_does_not_name_picked_nothing():
    t = task_report("t", "t", ["score", "tests"], result(MethodPick(method="score", candidate=1, reason="")), checks(True))
    assert [(r.method, r.picked, r.selected) for r in t.methods] == [("score", 1, True), ("tests", None, False)]


def test_totals_count_every_task_and_a_failed_one_as_a_miss():
    tasks = [
        task_report("a", "a", METHODS, result(*(MethodPick(method=m, candidate=1, reason="") for m in METHODS)), checks(True, False)),
        task_report("b", "b", METHODS, result(MethodPick(method="score", candidate=1, reason=""),
                                              MethodPick(method="tests", candidate=2, reason="", cost_usd=1.0),
                                              MethodPick(method="tournament", candidate=2, reason="")), checks(False, True)),
        failed_task("c", "c", METHODS, "the run failed: no candidate could win"),
    ]
    report = build_report("best-of-n", 2, METHODS, tasks)
    totals = {t.method: t for t in report.totals}
    assert [(t.tasks, t.pass_at_1, t.pass_at_n) for t in report.totals] == [(3, 1, 2)] * 3
    assert {m: t.selected for m, t in totals.items()} == {"score": 1, "tests": 2, "tournament": 2}
    assert totals["tests"].cost_usd == 0.5 + 0.5 + 1.0 and totals["score"].cost_usd == 1.0
    assert MethodTotal.rate(2, 3) == 2 / 3 and MethodTotal.rate(0, 0) == 0.0


def test_the_json_holds_every_figure_and_the_table_shows_them():
    picks = MethodPick(method="score", candidate=2, reason=""), MethodPick(method="tests", candidate=1, reason="")
    tasks = [task_report("01-x", "x", ["score", "tests"], result(*picks), checks(True, False)), failed_task("02-y", "y", ["score", "tests"], "the run failed")]
    report = build_report("best-of-n", 2, ["score", "tests"], tasks)
    data = json.loads(report.model_dump_json())
    assert data["tasks"][0]["pass_at_1"] is True and data["tasks"][0]["methods"][0] == {**data["tasks"][0]["methods"][0], "picked": 2, "selected": False}
    assert data["tasks"][1]["error"] == "the run failed"
    assert [(t["method"], t["selected"], t["tasks"]) for t in data["totals"]] == [("score", 0, 2), ("tests", 1, 2)]
    console = Console(width=200, record=True, file=io.StringIO())
    print_report(report, console)
    text = console.export_text()
    assert "01-x" in text and "✗ #2" in text and "✓ #1" in text and "✓ 1/2" in text
    assert "error: the run failed" in text
    lines = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]] for line in text.splitlines() if line.count("│") > 3}
    assert lines["score"] == ["1/2 (50%)", "1/2 (50%)", "0/2 (0%)", "0%", "$0.50"]
    assert lines["tests"] == ["1/2 (50%)", "1/2 (50%)", "1/2 (50%)", "100%", "$0.50"]
