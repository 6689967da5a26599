"""The live view: per instance its time, tokens, cost (live from heartbeats), score and what it
does; run totals; and on Ctrl-C the last screen stays above the detach message."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from client.render import TuiRenderer
from client.snapshots import Snapshot
from workflows.sdk.models import InstanceProgress, RunProgress


def test_the_live_screen_shows_usage_scores_and_totals_and_stays_when_detached():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    tui = TuiRenderer(console, "best-of-n run run_1", None)
    started = datetime.now(UTC) - timedelta(seconds=42)
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
    # A running agent's cost is an estimate from its tokens until the agent reports its own figure, and says so.
    assert rows["candidate/2"][1:5] == ["running", "42s", "900", "~$0.0050"] and "tool: Bash (pytest -q)" in " ".join(rows["candidate/2"])
    assert rows["score/1/1"][1] == "queued"
    assert "3 instances: 1 running, 1 queued, 1 success; tokens 2,400, cost $0.0173 (estimated)" in screen
    assert "~ cost estimated from tokens" in screen


def test_a_running_loop_shows_its_latest_iterations_and_the_one_running_now():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    tui = TuiRenderer(console, "loop run run_2", None)
    trail = [{"iteration": n, "commit": f"{n:02d}" + "a" * 38, "levels_passed": ["L0"], "ci_passed": None, "changed": True, "action": "continue",
              "reason": f"iteration {n} of 20 failed verification", "duration_seconds": 1.5, "tokens": 100, "cost_usd": 0.01} for n in range(1, 13)]
    progress = RunProgress(run_id="run_2", strategy="loop", phase="iteration 13", trail=trail, trail_total=12, instances=[
        InstanceProgress(key="iteration/12", branch="orchard/loop/run_2/k1", status="success"),
        InstanceProgress(key="iteration/13", branch="orchard/loop/run_2/k1", status="running", started_at=datetime.now(UTC)),
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
                                      "verify_output": "$ pytest -q\n" + "".join(f"line {n}\n" for n in range(30))
                                                       + "FAILED test_greeting - [expected] hello\n"})
    winner = InstanceResult(success=True, key="candidate/1", branch_name="orchard/best-of-n/run_4/k1", has_changes=True,
                            metrics={"verify_passed": True, "score": 7}, metadata={"winner": True, "selection_reason": "highest score 7/10"})
    result = RunResult(run_id="run_4", strategy="best-of-n", status="success", base_branch="main", base_commit="b" * 40, instances=[winner, failed],
                       duration_seconds=2.0)
    text = _printed(Outcome(run_id="run_4", status="success", result=result))
    assert f"candidate/2: verification log (exit 1): {log}" in text
    assert text.count("verification failed (exit 1)") == 1  # its note, said once
    assert "FAILED test_greeting - [expected] hello" in text  # printed as it is, brackets too
    assert "line 29" in text and "line 20" not in text  # its last lines; the log has them all
    assert "candidate/1: verification" not in text


def test_brackets_in_what_is_printed_are_data_not_markup(monkeypatch):
    from client.render import make_console

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    make_console().print("winner: orchard/b/run_5/k1 (passed `grep -q [greeting] app.py`)")
    assert out.getvalue() == "winner: orchard/b/run_5/k1 (passed `grep -q [greeting] app.py`)\n"


RUN = "run_20261206_110206_75bad0"


def _branch(h: str) -> str:
    return f"orchard/best-of-n/{RUN}/k{h}"


def _squeezed(text: str) -> str:
    """The words of what was printed, without the table's rules and spacing: a note wrapped in its column reads whole."""
    return "".join(text.replace("│", "").replace("┃", "").split())


def _nothing_essential_cut(text: str, width: int, branches: list[str]) -> None:
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines if "│" in line or "┃" in line), text  # the tables (long lines of text wrap in the terminal)
    for line in lines:  # the one thing shortened: branch names, to the end that tells them apart
        for at in [i for i, ch in enumerate(line) if ch == "…"]:
            assert line[at:].startswith(("…/k", "… stands for ")), line
    legend = next((line.split("… stands for ")[1] for line in lines if "… stands for " in line), None)
    for branch in branches:  # and each is whole, or its shared prefix is said once and its end is in the table
        assert branch in text or (legend is not None and branch.startswith(legend) and "…" + branch[len(legend):] in text), (branch, text)


@pytest.mark.parametrize("width", [80, 90, 100, 120])
def test_the_final_table_fits_the_terminal_and_cuts_nothing_essential(width):
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, RunResult

    def result(key: str, h: str, **fields) -> InstanceResult:
        return InstanceResult(success=True, key=key, branch_name=_branch(h), has_changes=True, insertions=120, deletions=14, duration_seconds=312.4,
                              input_tokens=1_234_567, output_tokens=45_678, cost_usd=3.4567, **fields)

    winner = result("candidate/3", "e4d75bc7", metrics={"score": 9}, metadata={"winner": True, "selection_reason": "highest score 9/10, passed `pytest -q`"})
    other = result("candidate/1", "ab58afe3", metrics={"score": 5})
    rejected = result("candidate/2", "15649074", metrics={"verify_passed": False, "verify_exit_code": 1},
                      metadata={"ineligible": "verification failed (exit 1)"})
    results = [winner, other, rejected]
    run = RunResult(run_id=RUN, strategy="best-of-n", status="success", base_branch="main", base_commit="b" * 40, instances=results, duration_seconds=400.0)
    text = _printed(Outcome(run_id=RUN, status="success", result=run), width=width)
    _nothing_essential_cut(text, width, [r.branch_name or "" for r in results])
    rows = [line for line in text.splitlines() if "candidate/" in line and "│" in line]
    assert len(rows) == 3 and all(" success " in row.replace("│", " ") + " " for row in rows)  # never `succe…`
    assert "★" in next(row for row in rows if "candidate/3" in row)
    assert "highestscore9/10,passed`pytest-q`" in _squeezed(text).split("winner:")[0]  # the winner's note, whole (the winner line says it again)
    assert _squeezed(text).count("verificationfailed(exit1)") == 1  # the failure's, whole, once


@pytest.mark.parametrize("width", [80, 90, 100, 120])
def test_the_live_view_fits_the_terminal_and_cuts_nothing_essential(width):
    out = io.StringIO()
    tui = TuiRenderer(Console(file=out, force_terminal=True, width=width, color_system=None), f"best-of-n run {RUN}", None)
    started = datetime.now(UTC) - timedelta(seconds=42)
    progress = RunProgress(run_id=RUN, strategy="best-of-n", phase="running", instances=[
        InstanceProgress(key="candidate/1", branch=_branch("ab58afe3"), status="success", duration_seconds=200.0, input_tokens=934_567, output_tokens=25_678,
                         cost_usd=2.4567, metrics={"score": 5}),
        InstanceProgress(key="candidate/2", branch=_branch("15649074"), status="running", started_at=started),
        InstanceProgress(key="score/1/1", branch="", status="queued"),
    ])
    beat = {"phase": "agent running", "last_event": "Bash: pytest -q tests/test_greeting.py", "input_tokens": 800_000, "output_tokens": 10_000,
            "cost_usd": 1.2345, "attempt": 2}
    tui.update(Snapshot(run_id=RUN, status="running", progress=progress, heartbeats={"candidate/2": beat}))
    tui.close()
    screen = out.getvalue().split("\x1b[?25h")[-1]
    _nothing_essential_cut(screen, width, [_branch("ab58afe3"), _branch("15649074")])
    cells = {c[0]: c for c in (line.replace("│", " ").split() for line in screen.splitlines()) if c and c[0].startswith(("candidate/", "score/"))}
    assert cells["candidate/2"][1:6] == ["running", "(attempt", "2)", "42s", "810,000"] and cells["candidate/2"][6] == "~$1.2345"
    assert cells["candidate/1"][1:5] == ["success", "200s", "960,245", "$2.4567"] and cells["score/1/1"][1] == "queued"
    assert "Bash:pytest-qtests/test_greeting.py" in _squeezed(screen)  # what it does now, in its column or below the table


def test_one_instance_is_one_instance():
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, RunResult

    only = InstanceResult(success=True, key="simple", branch_name="orchard/simple/run_6/k1", duration_seconds=1.0)
    result = RunResult(run_id="run_6", strategy="simple", status="success", base_branch="main", base_commit="b" * 40, instances=[only],
                       duration_seconds=1.0, instances_run=1)
    assert "run run_6: success in 1.0s, 1 instance, tokens -, cost -" in _printed(Outcome(run_id="run_6", status="success", result=result))
    out = io.StringIO()
    tui = TuiRenderer(Console(file=out, force_terminal=True, width=120, color_system=None), "simple run run_6", None)
    tui.update(Snapshot(run_id="run_6", status="running", heartbeats={},
                        progress=RunProgress(run_id="run_6", strategy="simple", phase="running",
                                             instances=[InstanceProgress(key="simple", branch="b", status="queued")])))
    tui.close()
    assert "1 instance: 1 queued;" in out.getvalue()


def test_plain_output_of_a_run_whose_candidates_all_failed_verification_prints_each_once():
    from client.render import StreamingRenderer
    from client.snapshots import Outcome

    out = io.StringIO()
    plain = StreamingRenderer(Console(file=out, width=200, color_system=None, markup=False), "best-of-n run run_7", None)
    progress = RunProgress(run_id="run_7", strategy="best-of-n", phase="verifying", instances=[
        InstanceProgress(key=f"candidate/{n}", branch=f"orchard/best-of-n/run_7/k{n}", status="success") for n in (1, 2)])
    plain.update(Snapshot(run_id="run_7", status="running", progress=progress, heartbeats={}))
    error = "no candidate could win (candidate 1: verification failed (exit 1); candidate 2: verification failed (exit 1))"
    plain.finish(Outcome(run_id="run_7", status="failed", progress=progress, error=error))
    lines = out.getvalue().splitlines()
    assert [sum("candidate/1 " in line for line in lines), sum("candidate/2 " in line for line in lines)] == [1, 1], lines
    assert lines[-1] == f"run run_7: failed: {error}"


def test_the_totals_call_a_cost_estimated_only_when_an_estimate_is_in_it():
    from client.render import live_totals

    done = InstanceProgress(key="candidate/1", branch="b1", status="success", cost_usd=0.5)  # the agent's own figure
    idle = InstanceProgress(key="candidate/2", branch="b2", status="running")  # a command agent: no cost at all
    assert live_totals([done, idle], {"candidate/2": {"phase": "agent running"}}).endswith("cost $0.5000")
    assert live_totals([done, idle], {"candidate/2": {"phase": "agent running", "cost_usd": 0.25}}).endswith("cost $0.7500 (estimated)")


def test_each_kind_of_trail_row_has_its_table_and_its_line():
    from client.render import StreamingRenderer
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, PipelineSummary, QueueSummary, RunResult, Selection
    from workflows.sdk.trail import ItemRecord, PhaseRecord

    phases = [PhaseRecord(step=1, phase="plan", visit=1, action="run", ok=True, commit="c" * 40, duration_seconds=1.25),
              PhaseRecord(step=2, phase="merge", visit=2, action="chain", ok=False, note="merge conflict", attempts=["rebase: conflict in a.py"])]
    pipeline = InstanceResult(success=False, key="pipeline", selection=Selection(reason="phase merge failed"),
                              pipeline=PipelineSummary(runbook="ops", name="fix", phases=phases, refused=["main: not a fast-forward"]))
    worker = InstanceResult(success=True, key="worker", queue=QueueSummary(items=[ItemRecord(id="bug-7", status="dead", attempts=3, error="exit 1")]))
    result = RunResult(run_id="run_8", strategy="runbook", status="partial", base_branch="main", base_commit="b" * 40, instances=[pipeline, worker],
                       duration_seconds=3.0)
    text = _printed(Outcome(run_id="run_8", status="partial", result=result))
    rows = [line.replace("│", " ").split() for line in text.splitlines()]
    assert ["2", "merge", "2", "chain", "failed"] in [r[:5] for r in rows] and "rebase: conflict in a.py" in text
    assert ["bug-7", "dead", "3", "exit", "1"] in rows and "refused: main: not a fast-forward" in text
    out = io.StringIO()
    streaming = StreamingRenderer(Console(file=out, width=200, color_system=None), "runbook run run_8", None)
    progress = RunProgress(run_id="run_8", strategy="runbook", phase="running", trail=[*phases, {"round": 1, "findings": 2}], trail_total=5)
    streaming.update(Snapshot(run_id="run_8", status="running", progress=progress))
    said = out.getvalue()
    assert "phase merge (visit 2): failed: merge conflict (commit )\n  attempt rebase: conflict in a.py" in said
    assert "step 5: round=1, findings=2" in said  # a strategy's own row, by its place in the whole trail


def test_json_output_keeps_what_orchard_says_of_a_result_under_its_old_metadata_keys():
    from client.render import outcome_json
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, LoopSummary, RunResult, Selection, VariantSummary, VerificationSummary
    from workflows.sdk.trail import IterationRecord

    loop = InstanceResult(success=True, key="loop", selection=Selection(reason="verified"), runner="local", metadata={"mine": 1},
                          loop=LoopSummary(mode="hybrid", action="complete", iterations=1, decision={"continue": False},
                                           trail=[IterationRecord(iteration=1, commit="c", action="complete", reason="verified", verified=True)]))
    variant = InstanceResult(success=True, key="variant/a", files_changed=2, variant=VariantSummary(id="a", role="shadow", verified=False, shadow=True),
                             verification=VerificationSummary(log="/v.log", output="boom"))
    result = RunResult(run_id="run_9", strategy="loop", status="success", base_branch="main", base_commit="b" * 40, instances=[loop, variant],
                       duration_seconds=1.0)
    data = outcome_json(Outcome(run_id="run_9", status="success", result=result))
    first, second = data["instances"]
    assert first["metadata"] == {
        "mine": 1, "selection_reason": "verified", "runner": "local",
        "iterations": [{"iteration": 1, "commit": "c", "verified": True, "action": "complete", "reason": "verified"}],
        "loop": {"mode": "hybrid", "action": "complete", "partial": False, "iterations": 1, "decision": {"continue": False}},
    }
    assert second["metadata"] == {"variant": "a", "shadow": True, "verify_log": "/v.log", "verify_output": "boom", "comparison": {
        "variant": "a", "role": "shadow", "success": True, "duration_seconds": None, "tokens": 0, "cost_usd": 0.0, "files_changed": 2, "verified": False}}
    assert not {"loop", "selection", "variant", "verification", "runner"} & set(first)  # only where they were
    assert list(data)[:4] == ["type", "run_id", "status", "exit_code"] and data["instances"] is not None and data["duration_seconds"] == 1.0
    assert RunResult.model_validate({**data, "status": "success"}).instances == [loop, variant]  # and read back, typed


def test_a_run_stopped_by_its_budget_says_what_it_spent_and_a_waiting_one_until_when():
    from client.render import instance_line, progress_lines
    from client.snapshots import Outcome
    from workflows.sdk.models import InstanceResult, RunResult

    done = InstanceResult(success=True, key="gen/1", cost_usd=4.91, cost_estimated=True)
    result = RunResult(run_id="run_5", strategy="fan-out", status="success", base_branch="main", base_commit="b" * 40, instances=[done],
                       duration_seconds=2.0, cost_usd=4.91, cost_estimated=True, budget="spent $4.91 of $5 (estimated)")
    assert "budget: spent $4.91 of $5 (estimated); no more instances were started" in _printed(Outcome(run_id="run_5", status="success", result=result))
    until = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
    progress = RunProgress(run_id="run_5", strategy="fan-out", phase="running", quota_until=until, budget_wait="team", budget_until=until)
    local = until.astimezone()
    day = "" if local.date() == datetime.now().astimezone().date() else f" on {local:%Y-%m-%d}"
    assert progress_lines(progress)[:2] == [f"waiting for quota until {local:%H:%M}{day}", f"waiting for budget team until {local:%H:%M}{day}"]
    waiting = InstanceProgress(key="gen/2", branch="", status="running", quota_until=until)
    assert instance_line(waiting, {"last_event": "rate limited (429)"}).endswith(f"waiting for quota until {local:%H:%M}{day}")
