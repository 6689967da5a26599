"""`orchard eval` end to end: two shipped tasks, best-of-n with n=3, the simulated agents
(evals/simulated_agent.py), the embedded server. The figures the command reports are checked
against the candidates' branches it leaves in its --workdir, and against what the simulated agents
were told: a scorer that is always wrong picks a wrong candidate, while test writers and judges
that are always right pick the one that passes whenever there is one."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from client.evals.report import EvalReport
from client.evals.table import print_report
from tests.conftest import ROOT, orchard

pytestmark = pytest.mark.slow

TASKS = ROOT / "evals" / "tasks"
AGENT = f"{sys.executable} {ROOT / 'evals' / 'simulated_agent.py'} {TASKS} --solve 0.5 --seed 1 --scorer-error 1 --judge-error 0 --writer-error 0"
"""Seed 1 at --solve 0.5: in 01-slugify candidate 3 alone makes the reference fix, in 02-median none does."""


def show(repo: Path, ref: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, text=True, check=True).stdout


def tree(repo: Path, ref: str) -> list[str]:
    return subprocess.run(["git", "ls-tree", "-r", "--name-only", ref], cwd=repo, capture_output=True, text=True, check=True).stdout.split()


def test_eval_reports_each_method_pick_against_the_candidates_branches(embedded, tmp_path):
    _, env, _, _ = embedded
    work = tmp_path / "work"
    ran = orchard("eval", str(TASKS), "--task", "01-slugify", "--task", "02-median", "-S", "n=3", "-S", "select=score,tests,tournament",
                  "--plugin", "command", "--runner", "local", "--agent-command", AGENT,  # the simulated agents read the answers
                  "--workdir", str(work), "--output", "json", env=env, cwd=tmp_path, timeout=400)
    assert ran.returncode == 0, ran.stderr + ran.stdout[-3000:]
    report = EvalReport.model_validate_json(ran.stdout)
    assert [t.task for t in report.tasks] == ["01-slugify", "02-median"] and report.methods == ["score", "tests", "tournament"]

    fixes = {"01-slugify": "textkit/slug.py", "02-median": "stats/center.py"}
    for t in report.tasks:
        repo = work / t.task / "repo"
        assert t.error is None and t.repository == str(repo) and [c.candidate for c in t.candidates] == [1, 2, 3]
        reference = (TASKS / t.task / "solution" / fixes[t.task]).read_text()
        # A candidate passes the hidden check exactly when its branch holds the reference fix.
        solved = {c.candidate: show(repo, c.branch or "", fixes[t.task]) == reference for c in t.candidates}
        assert {c.candidate: c.passed for c in t.candidates} == solved, t.candidates
        assert t.pass_at_1 == solved[1] and t.pass_at_n == any(solved.values())
        for row in t.methods:
            assert row.picked is not None and row.selected == solved[row.picked], row
        # The agents never saw the check: the repository holds the task's files and the agents' changes only.
        assert tree(repo, "main") == sorted(p.relative_to(TASKS / t.task / "repo").as_posix() for p in (TASKS / t.task / "repo").rglob("*") if p.is_file())
        for c in t.candidates:
            assert not {"task.toml", ".orchard-eval-hidden"} & {p.split("/")[0] for p in tree(repo, c.branch or "")}

    slug, median = report.tasks
    assert [c.passed for c in slug.candidates] == [False, False, True] and [c.passed for c in median.candidates] == [False, False, False]
    assert {r.method: (r.picked, r.selected) for r in slug.methods} == {"score": (1, False), "tests": (3, True), "tournament": (3, True)}
    assert not any(r.selected for r in median.methods)
    assert [(m.method, m.pass_at_1, m.pass_at_n, m.selected, m.tasks) for m in report.totals] == [
        ("score", 0, 1, 0, 2), ("tests", 0, 1, 1, 2), ("tournament", 0, 1, 1, 2)]

    # The table says the same.
    console = Console(width=200, record=True, file=io.StringIO())
    print_report(report, console)
    rows = {cells[0]: cells[1:] for line in console.export_text().splitlines() if line.count("│") > 3
            for cells in [[c.strip() for c in line.split("│")[1:-1]]]}
    assert rows["01-slugify"][:5] == ["✗", "✓ 1/3", "✗ #1", "✓ #3", "✓ #3"]
    assert rows["02-median"][:2] == ["✗", "✗ 0/3"]
    assert rows["score"][:3] == ["0/2 (0%)", "1/2 (50%)", "0/2 (0%)"] and rows["tests"][2] == rows["tournament"][2] == "1/2 (50%)"
    assert json.loads(ran.stdout)["totals"][1]["selected"] == 1
