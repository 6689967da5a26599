"""best-of-n's selection through the orchard command, with the demo agent as candidates, test
writer, judge and synthesizer: real branches, the writer's test run on each candidate and the base
(sandboxed where bubblewrap works), a tournament among those tied, a synthesis; then `orchard show`
prints the candidates × tests matrix, the comparisons and what each method picked."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DEMO_AGENT, git, orchard

pytestmark = pytest.mark.slow

TEST_ID = "orchard_tests/writer_1/test_demo.py::test_the_demo_folder_exists"


def test_tests_then_a_tournament_then_a_synthesis_and_orchard_show_prints_how_it_picked(embedded, repo):
    home, env, _, _ = embedded
    ran = orchard("run", "add a greeting", "--strategy", "best-of-n", "-S", "n=3", "-S", "compare=tests+tournament,score",
                  "-S", "synthesize=true", "--agent-command", DEMO_AGENT, "--output", "json", env=env, cwd=repo, timeout=300)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["status"] == "success"
    synthesis, winner = result["instances"][:2]
    assert synthesis["key"] == "synthesis" and synthesis["metadata"]["winner"] is True
    assert winner["metadata"]["selection_reason"].startswith("passed 1 of 1 counted tests, tie among 3 candidates; won the round robin")
    assert git(repo, "log", "-1", "--format=%s", synthesis["branch_name"]).startswith("demo: You are combining candidate solutions")
    assert [(p["method"], p["candidate"] is not None) for p in result["selections"]] == [("tests+tournament", True), ("score", True)]
    matrix = [row for row in result["trail"] if row["kind"] == "test"]
    assert [(row["test"], row["passed"], row["base"], row["counted"]) for row in matrix] == [(TEST_ID, [1, 2, 3], False, True)]
    assert len([row for row in result["trail"] if row["kind"] == "comparison"]) == 3

    shown = orchard("show", result["run_id"], env=env, cwd=repo)
    assert shown.returncode == 0, shown.stderr
    lines = [line.replace("│", " ").split() for line in shown.stdout.splitlines()]
    assert [TEST_ID, "✗", "✓", "✓", "✓", "yes"] in lines  # the matrix: the base fails it, every candidate passes
    assert sum(1 for line in lines if len(line) > 3 and line[2] == "vs") == 3  # a row per pairing
    assert any(line[:1] == ["tests+tournament"] for line in lines) and any(line[:1] == ["score"] for line in lines)
    assert "winner: " + synthesis["branch_name"] in shown.stdout
