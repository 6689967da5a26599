"""best-of-n's `select=tournament` with the real Claude Code CLI against the fake Anthropic server:
real candidates (the CLI writes and commits), and a real judge call per comparison and order, the
judge shown both candidates' diffs; the trail keeps every comparison with its rationale, and the
judges' tokens are in the run's totals. Skipped where the CLI is missing (failed in CI)."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from client.render import print_outcome
from client.snapshots import Outcome
from tests.conftest import git, run_strategy
from tests.e2e.test_agent_clis import require_cli
from tests.fakes.anthropic_server import FakeAnthropic, Turn, Usage, write_and_commit_script
from workflows.sdk.trail import ComparisonRecord
from workflows.strategies.best_of_n import DIVERSITY_HINTS

pytestmark = pytest.mark.slow

GOOD = "def greet(name):\n    return f'Hello, {name}!'\n"
JUDGE = "You are judging two candidate solutions to a coding task."


def conversation(text: str):
    """Candidate 2 (the robustness hint) writes the right greeting, the others a wrong one; the
    judge prefers the diff that has the right one, wherever it is shown (a draw when neither has)."""
    if JUDGE in text:
        a = re.search(r"<candidate_a>(.*)</candidate_a>", text, re.S)
        b = re.search(r"<candidate_b>(.*)</candidate_b>", text, re.S)
        good_a, good_b = ("Hello, {name}!" in m.group(1) if m else False for m in (a, b))
        winner = "A" if good_a and not good_b else "B" if good_b and not good_a else "draw"
        answer = f'{{"winner": "{winner}", "rationale": "fake judge: {winner} greets by name"}}'
        return [Turn(text=answer, usage=Usage(input_tokens=700, output_tokens=30))]
    content = GOOD if DIVERSITY_HINTS[1] in text else "def greet(name):\n    return 'hi'\n"
    return write_and_commit_script("greet.py", content, "Add greet.py")


async def test_a_tournament_of_real_claude_code_candidates_judged_by_real_judge_calls(client, task_queue, repo, monkeypatch, tmp_path):
    require_cli("claude")
    with FakeAnthropic(conversations=conversation) as fake:
        for key, value in fake.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("HOME", str(tmp_path / "agent-home"))
        result = await run_strategy(client, task_queue, "best-of-n", repo, params={"n": 3, "select": "tournament"}, agent="",
                                    plugin="claude-code", model="claude-sonnet-4-5", runner="local")
    assert result.status == "success", [c.error for c in result.instances]
    winner = result.instances[0]
    assert winner.key == "candidate/2" and winner.selection.winner
    assert git(repo, "show", f"{winner.branch_name}:greet.py") == GOOD.strip()
    assert winner.selection.reason == "won the round robin with 2 of 2 points (3 pairings, each judged in both orders)"
    rows = sorted((r.a, r.b, r.first, r.second, r.winner) for r in result.trail if isinstance(r, ComparisonRecord))
    assert rows == [(1, 2, 2, 2, 2), (1, 3, None, None, None), (2, 3, 2, 2, 2)]  # 1 and 3 are alike: both judgings say draw
    assert all("fake judge" in r.rationale and r.tokens > 0 for r in result.trail if isinstance(r, ComparisonRecord))
    judged = [r for r in fake.main_requests if r.body["messages"][0]["content"] and JUDGE in str(r.body["messages"][0]["content"])]
    assert len(judged) == 6  # one real judge call per comparison and order
    assert "+def greet(name):" in str(judged[0].body["messages"][0]["content"])  # the judge saw the diffs
    (pick,) = result.selections
    assert (pick.method, pick.candidate) == ("tournament", 2) and pick.input_tokens == 6 * 700
    assert result.input_tokens >= 3 * 3900 + 6 * 700  # the judges' tokens are in the run's totals
    out = io.StringIO()
    print_outcome(Console(file=out, width=200, color_system=None), Outcome(run_id=result.run_id, status="success", result=result), None)
    assert "fake judge: B greets by name" in out.getvalue() or "fake judge: A greets by name" in out.getvalue()
