"""The live view: per instance its time, tokens, cost (live from heartbeats), score and what it
does; run totals; and on Ctrl-C the last screen stays above the detach message."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

from rich.console import Console

from client.render import TuiRenderer
from client.snapshots import Snapshot
from workflows.sdk.models import InstanceProgress, RunProgress


def test_the_live_screen_shows_usage_scores_and_totals_and_stays_when_detached():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    tui = TuiRenderer(console, "best-of-n run run_1", None)
    started = datetime.now(timezone.utc) - timedelta(seconds=42)
    progress = RunProgress(run_id="run_1", strategy="best-of-n", phase="scoring", instances=[
        InstanceProgress(key="candidate/1", branch="orchard/b/run_1/k1", status="success", duration_seconds=12.0,
                         input_tokens=1200, output_tokens=300, cost_usd=0.0123, started_at=started, metrics={"score": 9}),
        InstanceProgress(key="candidate/2", branch="orchard/b/run_1/k2", status="running", started_at=started),
        InstanceProgress(key="score/1/1", branch="", status="queued"),
    ])
    beat = {"phase": "agent running", "last_event": "tool: Bash (pytest -q)", "input_tokens": 800, "output_tokens": 100, "cost_usd": 0.005, "attempt": 1}
    tui.update(Snapshot(run_id="run_1", status="running", progress=progress, heartbeats={"candidate/2": beat}))
    tui.close()  # Ctrl-C: detached
    screen = out.getvalue().split("\x1b[?25h")[-1]  # what stays once the live display has gone
    cells = [line.replace("│", " ").split() for line in screen.splitlines()]
    rows = {c[0]: c for c in cells if c and c[0].startswith(("candidate/", "score/"))}
    assert rows["candidate/1"][1:6] == ["success", "12s", "1,500", "$0.0123", "9"]
    assert rows["candidate/2"][1:5] == ["running", "42s", "900", "$0.0050"] and "tool: Bash (pytest -q)" in " ".join(rows["candidate/2"])
    assert rows["score/1/1"][1] == "queued"
    assert "3 instances: 1 running, 1 queued, 1 success; tokens 2,400, cost $0.0173" in screen


def test_a_running_loop_shows_its_latest_iterations_and_the_one_running_now():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    tui = TuiRenderer(console, "loop run run_2", None)
    trail = [{"iteration": n, "commit": f"{n:02d}" + "a" * 38, "levels_passed": ["L0"], "ci_passed": None, "changed": True, "action": "continue",
              "reason": f"iteration {n} of 20 failed verification", "duration_seconds": 1.5, "tokens": 100, "cost_usd": 0.01} for n in range(1, 13)]
    progress = RunProgress(run_id="run_2", strategy="loop", phase="iteration 13", trail=trail, trail_total=12, instances=[
        InstanceProgress(key="iteration/12", branch="orchard/loop/run_2/k1", status="success"),
        InstanceProgress(key="iteration/13", branch="orchard/loop/run_2/k1", status="running", started_at=datetime.now(timezone.utc)),
    ])
    tui.update(Snapshot(run_id="run_2", status="running", progress=progress, heartbeats={"iteration/13": {"phase": "verifying L1"}}))
    tui.close()
    screen = out.getvalue().split("\x1b[?25h")[-1]
    cells = [line.replace("│", " ").split() for line in screen.splitlines()]
    shown = [c[0] for c in cells if len(c) > 2 and c[1].endswith("a" * 10)]  # iteration rows: number, commit
    assert shown == [str(n) for n in range(3, 13)] and "iterations (2 earlier)" in screen  # the last 10 rows
    assert any(c[:2] == ["iteration/13", "running"] for c in cells) and not any(c[:1] == ["iteration/12"] for c in cells)
    assert "03aaaaaaaaaa " in screen and "03aaaaaaaaaaa" not in screen  # commits shortened to 12


def test_a_running_pipeline_shows_its_phase_graph_with_where_it_is():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    tui = TuiRenderer(console, "runbook run run_3", None)
    graph = ["▶ fix     task      → verify  on_fail → escalate  semaphore agents  ran 2×", "✗ verify  shell     → merge  on_fail → fix",
             "· merge   strategy  → (end)  lock main_branch"]
    progress = RunProgress(run_id="run_3", strategy="runbook", phase="phase fix (visit 2) · fix✓ verify✗ merge", graph=graph)
    tui.update(Snapshot(run_id="run_3", status="running", progress=progress, heartbeats={}))
    tui.close()
    screen = out.getvalue().split("\x1b[?25h")[-1]
    lines = [line.strip() for line in screen.splitlines()]
    at = next(i for i, line in enumerate(lines) if line.endswith("[phase fix (visit 2) · fix✓ verify✗ merge, 0s]"))  # the header
    assert lines[at + 1:at + 4] == graph


def _printed(outcome, width: int = 120) -> str:
    from client.render import print_outcome

    out = io.StringIO()
    print_outcome(Console(file=out, width=width, color_system=None, markup=False, soft_wrap=True), outcome, None)
    return out.getvalue()


def test_a_candidate_that_failed_verification_shows_the_end_of_its_output_and_its_log():
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, RunResult

    log = "/home/u/.orchard/runs/run_4/verify/verify_candidate_2_1.log"
    failed = InstanceResult(success=True, key="candidate/2", branch_name="orchard/best-of-n/run_4/k2", has_changes=True,
                            metrics={"verify_passed": False, "verify_exit_code": 1},
                            metadata={"ineligible": "verification failed (exit 1)", "verify_log": log,
                                      "verify_output": "$ pytest -q\n" + "".join(f"line {n}\n" for n in range(30)) + "FAILED test_greeting - [expected] hello\n"})
    winner = InstanceResult(success=True, key="candidate/1", branch_name="orchard/best-of-n/run_4/k1", has_changes=True,
                            metrics={"verify_passed": True, "score": 7}, metadata={"winner": True, "selection_reason": "highest score 7/10"})
    result = RunResult(run_id="run_4", strategy="best-of-n", status="success", base_branch="main", base_commit="b" * 40, instances=[winner, failed], duration_seconds=2.0)
    text = _printed(Outcome(run_id="run_4", status="success", result=result))
    assert f"candidate/2: verification failed (exit 1); its log: {log}" in text
    assert "FAILED test_greeting - [expected] hello" in text  # printed as it is, brackets too
    assert "line 29" in text and "line 20" not in text  # its last lines; the log has them all
    assert "candidate/1: verification" not in text


def test_brackets_in_what_is_printed_are_data_not_markup(monkeypatch):
    from client.render import make_console

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    make_console().print("winner: orchard/b/run_5/k1 (passed `grep -q [greeting] app.py`)")
    assert out.getvalue() == "winner: orchard/b/run_5/k1 (passed `grep -q [greeting] app.py`)\n"
